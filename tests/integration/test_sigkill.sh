#!/usr/bin/env bash
# SIGKILL of imgrecipe while a script runs in the image (tiny image): within
# a few seconds no process of the script, no loop device of the test's files
# and no mount are left. A later run in the same build dir and output dir
# removes what the killed run left (its run directory, a temporary output)
# and leaves a live concurrent run's directory and temporary output alone.
# A build dir that is a regular file is a clear usage error.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env tiny
# Background processes of this test die with it, whatever fails.
bg_pids=()
stop_bg() {
    local rc=$?
    for p in "${bg_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    (exit "$rc")
    t_cleanup
}
trap stop_bg EXIT

build_dir=$T_TMP/build
out_dir=$T_TMP/out
mkdir -p "$T_TMP/cfg" "$out_dir"
# config NAME SCRIPT -> $T_TMP/cfg/NAME.yaml writing $out_dir/out.raw
config() {
    cat > "$T_TMP/cfg/$1.yaml" <<YAML
input:
  image:
    path: $IMG_PATH
scripts:
  postCustomization:
    - name: $1
      content: |
$(sed 's/^/        /' <<< "$2")
output:
  image:
    path: $out_dir/out.raw
    format: raw
YAML
}
# Unique sleep lengths find the script's processes from the host.
s1=$((5000 + RANDOM % 1000)); s2=$((s1 + 1)); s3=$((s1 + 2))
config long "echo STARTED
sleep $s2 &
sleep $s1"
config live "echo STARTED
sleep $s3"
config short "echo short run"
wait_started() {  # LOG PID
    for _ in $(seq 1 300); do
        grep -q "| STARTED" "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
script_procs() { pgrep -f "sleep ($s1|$s2|$s3)\$" | wc -l; }
# Mounts under a run's directory in any process's namespace.
run_mounts() { cat /proc/[0-9]*/mountinfo 2>/dev/null | grep -c -F -- "$build_dir/run-$1/" || true; }

# --- two runs with long scripts in one build dir; one gets SIGKILL ---
"$IMGRECIPE" build "$T_TMP/cfg/long.yaml" --build-dir "$build_dir" > "$T_TMP/killed.log" 2>&1 &
killed=$!
bg_pids+=("$killed")
check "the long script started" wait_started "$T_TMP/killed.log" "$killed"
# A raw output's working copy is the output's temporary file (.out.raw.tmp-*).
ktmp=$(ls -d "$out_dir"/.out.raw.tmp-* 2>/dev/null || true)
check "the run to kill works on its output's temporary file" test -f "$ktmp"
# Loop devices of the run to kill: on its run directory or its working copy.
killed_loops() {
    losetup -l -n -O BACK-FILE 2>/dev/null | grep -c -F -e "$build_dir/run-$killed/" -e "$ktmp" || true
}
"$IMGRECIPE" build "$T_TMP/cfg/live.yaml" --build-dir "$build_dir" > "$T_TMP/live.log" 2>&1 &
live=$!
bg_pids+=("$live")
check "a concurrent live run started" wait_started "$T_TMP/live.log" "$live"
check_eq "the scripts' processes run" 3 "$(script_procs)"
check "the run to kill holds a loop device" test "$(killed_loops)" -gt 0
kill -9 "$killed"
wait "$killed" 2>/dev/null || true
for _ in $(seq 1 50); do
    [[ $(script_procs) == 1 && $(killed_loops) == 0 && $(run_mounts "$killed") == 0 ]] && break
    sleep 0.1
done
check_eq "no process of the killed script left after SIGKILL (only the live run's)" 1 "$(script_procs)"
check_eq "no loop device left after SIGKILL" 0 "$(killed_loops)"
check_eq "no mount left after SIGKILL" 0 "$(run_mounts "$killed")"
check "the killed run left its run directory" test -d "$build_dir/run-$killed"

# What a run killed while writing its output leaves, and what a live run
# writing the same output holds.
stale_tmp=$out_dir/.out.raw.tmp-Stale1
live_tmp=$out_dir/.out.raw.tmp-Live12
echo partial > "$stale_tmp"
echo writing > "$live_tmp"
flock --no-fork "$live_tmp" sleep 600 > /dev/null 2>&1 &
holder=$!
bg_pids+=("$holder")
sleep 0.3

# --- a later run cleans up after the killed one only ---
set +e
out=$("$IMGRECIPE" build "$T_TMP/cfg/short.yaml" --build-dir "$build_dir" 2>&1)
rc=$?
set -e
echo "$out" | tail -5
check_eq "a later run in the same build and output dirs succeeds" 0 "$rc"
check "it removed the killed run's directory" test ! -e "$build_dir/run-$killed"
check "it removed the killed run's lock file" test ! -e "$build_dir/run-$killed.lock"
check_contains "it says what it removed" "$out" "run-$killed left by a run that was killed"
check "it removed the stale temporary output" test ! -e "$stale_tmp"
check "it removed the killed run's working copy (its output's temporary file)" test ! -e "$ktmp"
check "the live run's directory is untouched" test -d "$build_dir/run-$live"
check "the live run's lock file is untouched" test -e "$build_dir/run-$live.lock"
check "a held temporary output is untouched" test -e "$live_tmp"
check "the live run still runs" kill -0 "$live"
kill "$holder"; wait "$holder" 2>/dev/null || true
rm -f "$live_tmp"
kill -TERM "$live"
wait "$live" 2>/dev/null || true
check "the interrupted live run removed its directory" test ! -e "$build_dir/run-$live"
check_eq "nothing else left in the build dir" "" "$(ls -A "$build_dir")"
check_eq "only the output in the output dir" "out.raw" "$(ls -A "$out_dir")"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no process of the scripts left" 0 "$(script_procs)"

# --- a build dir that is a file ---
touch "$T_TMP/a-file"
set +e
out=$("$IMGRECIPE" build "$T_TMP/cfg/short.yaml" --build-dir "$T_TMP/a-file" 2>&1)
rc=$?
set -e
check_eq "a file as build dir is a usage error" 2 "$rc"
check_contains "it says so" "$out" "--build-dir $T_TMP/a-file is not a directory"
check_not_contains "not an internal error" "$out" "internal error"
t_done
