#!/usr/bin/env bash
# Failures release everything: a failing script, a missing source file, and
# SIGINT/SIGTERM in the middle of a chroot step all end with a non-zero exit,
# a clear message, no loop device or mount left, the input byte-identical and
# no output file.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env tiny
before=$(sha256sum "$IMG_PATH" | cut -d' ' -f1)
loops0=$(all_loops)

write_config() {  # write_config NAME EXTRA-YAML
    mkdir -p "$T_TMP/$1"
    cat > "$T_TMP/$1/config.yaml" <<YAML
input: {image: {path: $IMG_PATH}}
output: {image: {path: $T_TMP/$1/out.vhdx, format: vhdx}}
$2
YAML
}

after_failure() {  # after_failure NAME RC LOG EXPECTED-MESSAGE
    local name=$1 rc=$2 log=$3 msg=$4
    check "$name: non-zero exit" test "$rc" -ne 0
    check_contains "$name: message" "$log" "$msg"
    check_eq "$name: no loop device left" "$loops0" "$(all_loops)"
    check_eq "$name: no mount left" 0 "$(mounts_under "$T_TMP")"
    check_eq "$name: input unchanged" "$before" "$(sha256sum "$IMG_PATH" | cut -d' ' -f1)"
    check "$name: no output file" test ! -e "$T_TMP/$name/out.vhdx"
    check_eq "$name: no temp output left" "" "$(ls -A "$T_TMP/$name" | grep -v -e '^config.yaml$' -e '^build$' -e '^files$' || true)"
    check_eq "$name: run directory removed" "" "$(ls -A "$T_TMP/$name/build" 2>/dev/null || true)"
}

# 1. A failing script: the error names the step, the exit code and its last output lines.
write_config failing-script 'scripts:
  postCustomization:
    - name: breaks
      content: |
        echo first line
        echo "the last words"
        exit 3'
set +e
log=$("$IMGRECIPE" build "$T_TMP/failing-script/config.yaml" --build-dir "$T_TMP/failing-script/build" 2>&1)
rc=$?
set -e
after_failure failing-script "$rc" "$log" "step 'postCustomization: breaks'"
check_contains "failing-script: exit code named" "$log" "exited with code 3"
check_contains "failing-script: output tail shown" "$log" "| the last words"

# 2. A missing source file.
write_config missing-source 'os:
  additionalFiles:
    - source: files/nope.txt
      destination: /etc/nope.txt'
set +e
log=$("$IMGRECIPE" build "$T_TMP/missing-source/config.yaml" --build-dir "$T_TMP/missing-source/build" 2>&1)
rc=$?
set -e
after_failure missing-source "$rc" "$log" "files/nope.txt"

# 3/4. A signal in the middle of a chroot step.
for sig in INT TERM; do
    name=signal-$sig
    # A fraction unique to this run, so no other `sleep 300` on the machine matches.
    sleeper="sleep 300 0.$$$RANDOM"
    write_config "$name" "scripts:
  postCustomization:
    - name: sleeper
      content: |
        echo SLEEPING-NOW
        $sleeper
        echo should-not-get-here"
    "$IMGRECIPE" build "$T_TMP/$name/config.yaml" --build-dir "$T_TMP/$name/build" > "$T_TMP/$name.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do
        grep -q SLEEPING-NOW "$T_TMP/$name.log" && break
        sleep 0.1
    done
    check "$name: reached the chroot step" grep -q SLEEPING-NOW "$T_TMP/$name.log"
    kill -s "$sig" "$pid"
    start=$(date +%s)
    set +e
    wait "$pid"
    rc=$?
    set -e
    check "$name: stopped within 15 s" test $(( $(date +%s) - start )) -le 15
    after_failure "$name" "$rc" "$(cat "$T_TMP/$name.log")" "interrupted by signal"
    check_eq "$name: exit code 128+signal" "$((128 + $(kill -l "$sig")))" "$rc"
    check_eq "$name: no process left in the image" "" "$(pgrep -f -x "$sleeper" || true)"
done
t_done
