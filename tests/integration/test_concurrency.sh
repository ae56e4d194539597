#!/usr/bin/env bash
# Four builds at once from one input into one build dir (tiny image), each
# with its own hostname and output: all succeed, each output has its own
# hostname, the input is unchanged and nothing is left (run directories,
# lock files, temporary outputs, loop devices, mounts).
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env tiny
before=$(sha256sum "$IMG_PATH" | cut -d' ' -f1)

build_dir=$T_TMP/build
mkdir -p "$T_TMP/out"
pids=()
for i in 1 2 3 4; do
    cat > "$T_TMP/c$i.yaml" <<YAML
input:
  image:
    path: $IMG_PATH
os:
  hostname: parallel-$i
scripts:
  postCustomization:
    - name: stamp
      content: |
        echo "build $i" > /etc/parallel-stamp
output:
  image:
    path: $T_TMP/out/out$i.qcow2
    format: qcow2
YAML
    "$IMGRECIPE" build "$T_TMP/c$i.yaml" --build-dir "$build_dir" > "$T_TMP/b$i.log" 2>&1 &
    pids+=($!)
done
for i in 1 2 3 4; do
    rc=0
    wait "${pids[$((i - 1))]}" || rc=$?
    check_eq "build $i exits 0" 0 "$rc"
    [[ $rc == 0 ]] || tail -20 "$T_TMP/b$i.log"
done
for i in 1 2 3 4; do
    to_raw "$T_TMP/out/out$i.qcow2" "$T_TMP/r$i.raw"
    check_eq "output $i has its own hostname" "parallel-$i" "$(fs_cat "$T_TMP/r$i.raw" "$ROOT_OFFSET" /etc/hostname)"
    check_eq "output $i has its own script's file" "build $i" "$(fs_cat "$T_TMP/r$i.raw" "$ROOT_OFFSET" /etc/parallel-stamp)"
    rm -f "$T_TMP/r$i.raw"
done
check_eq "input unchanged" "$before" "$(sha256sum "$IMG_PATH" | cut -d' ' -f1)"
check_eq "build dir empty (run dirs and lock files removed)" "" "$(ls -A "$build_dir")"
check_eq "only the outputs in the output dir" "out1.qcow2 out2.qcow2 out3.qcow2 out4.qcow2" "$(ls -A "$T_TMP/out" | xargs)"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(cat /proc/[0-9]*/mountinfo 2>/dev/null | grep -c -F -- "$T_TMP" || true)"
t_done
