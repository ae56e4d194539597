#!/usr/bin/env bash
# Every host operation of a build can fail without leaking anything. With
# IMGRECIPE_FAULT_INJECT=N the N-th host operation (mount, loop attach, file
# write in the image, command run, conversion, filesystem sync, FAT
# write-back) fails; this loops over every N of a representative build on the
# tiny image (hostname, a kernel argument, an additional file and directory,
# a script that also writes into the staged FAT ESP, a finalize script, vhdx
# output) and checks each time: non-zero exit, a message naming the injected
# fault, no loop device or mount left, the input byte-identical, no output or
# temporary output file, no run directory left, nothing left mounted or
# attached inside the build's own mount namespace (the build reports that at
# exit under fault injection), and no release that went wrong on the way
# (lazy unmount, failed teardown, unremovable files). One past the last
# operation the build succeeds.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env tiny
before=$(sha256sum "$IMG_PATH" | cut -d' ' -f1)
loops0=$(all_loops)

mkdir -p "$T_TMP/files" "$T_TMP/out" "$T_TMP/tree/sub"
echo "hello from the fault test" > "$T_TMP/files/greeting.txt"
echo "tree file" > "$T_TMP/tree/a.txt"
echo "nested file" > "$T_TMP/tree/sub/b.txt"
cat > "$T_TMP/config.yaml" <<YAML
input: {image: {path: $IMG_PATH}}
output: {image: {path: $T_TMP/out/out.vhdx, format: vhdx}}
os:
  hostname: faulty
  kernelCommandLine:
    extraCommandLine: [fault.test=1]
  additionalFiles:
    - source: files/greeting.txt
      destination: /etc/greeting.txt
  additionalDirs:
    - source: tree
      destination: /opt/tree
scripts:
  postCustomization:
    - name: touch-esp
      content: |
        echo "written by the script" > /boot/efi/fault-test.txt
        echo done
  finalizeCustomization:
    - name: finalize
      content: echo finalized > /etc/finalized
YAML

build() {  # build FAULT -> rc, log
    set +e
    log=$(IMGRECIPE_FAULT_INJECT=$1 "$IMGRECIPE" build "$T_TMP/config.yaml" --build-dir "$T_TMP/build" \
        --log-level debug 2>&1)
    rc=$?
    set -e
}

# How many host operations a successful run has.
build count
check_eq "count run: exit 0" 0 "$rc"
total=$(sed -n 's/^imgrecipe: fault injection: \([0-9]*\) host operations$/\1/p' <<< "$log")
check "count run: reports the number of host operations (${total:-none})" test "${total:-0}" -ge 20
rm -f "$T_TMP/out/out.vhdx"
[[ "${total:-0}" -ge 1 ]] || { t_done; exit 1; }

for n in $(seq 1 "$total"); do
    build "$n"
    op=$(grep -o "host operation $n: .*" <<< "$log" | head -1 || true)
    problems=()
    [[ $rc -ne 0 ]] || problems+=("exit 0")
    grep -q "injected fault at host operation $n (" <<< "$log" || problems+=("no message naming the fault")
    [[ $(all_loops) == "$loops0" ]] || problems+=("loop devices left: $(losetup -l -n -O NAME,BACK-FILE | grep -F "$T_TMP")")
    [[ $(mounts_under "$T_TMP") == 0 ]] || problems+=("mounts left")
    [[ $(sha256sum "$IMG_PATH" | cut -d' ' -f1) == "$before" ]] || problems+=("input changed")
    [[ -z $(ls -A "$T_TMP/out") ]] || problems+=("output dir not empty: $(ls -A "$T_TMP/out")")
    [[ -z $(ls -A "$T_TMP/build" 2>/dev/null) ]] || problems+=("build dir not empty: $(ls -A "$T_TMP/build")")
    # Inside the build's private mount namespace (invisible from here): at exit
    # the build reports any mount or loop device of its build dir still there.
    ! grep -q "left behind:" <<< "$log" || problems+=("$(grep "left behind:" <<< "$log" | tr '\n' ' ')")
    for bad in "detaching it lazily" "teardown of" "could not be removed" "cannot remove" "still mounted"; do
        ! grep -q "$bad" <<< "$log" || problems+=("log: $(grep -m1 "$bad" <<< "$log")")
    done
    if [[ ${#problems[@]} -eq 0 ]]; then
        t_pass "fault $n/$total (${op#host operation $n: }): failed cleanly"
    else
        t_fail "fault $n/$total (${op#host operation $n: }): $(printf '%s; ' "${problems[@]}")"
        printf '%s\n' "$log" | grep -v '^\[.*\] *|' | tail -8
    fi
    rm -rf "$T_TMP/build" "${T_TMP:?}/out/"*
done

# One past the last operation: nothing fails and the output is complete.
build $((total + 1))
check_eq "fault $((total + 1)) (past the last operation): exit 0" 0 "$rc"
[[ $rc -eq 0 ]] || printf '%s\n' "$log" | tail -8
check_eq "success: no loop device left" "$loops0" "$(all_loops)"
check_not_contains "success: nothing left behind inside the build" "$log" "left behind:"
check_eq "success: input unchanged" "$before" "$(sha256sum "$IMG_PATH" | cut -d' ' -f1)"
to_raw "$T_TMP/out/out.vhdx" "$T_TMP/out.raw"
check_eq "success: hostname" "faulty" "$(fs_cat "$T_TMP/out.raw" "$ROOT_OFFSET" /etc/hostname)"
check_eq "success: additional file" "hello from the fault test" "$(fs_cat "$T_TMP/out.raw" "$ROOT_OFFSET" /etc/greeting.txt)"
check_eq "success: additional dir" "nested file" "$(fs_cat "$T_TMP/out.raw" "$ROOT_OFFSET" /opt/tree/sub/b.txt)"
check_contains "success: kernel argument" "$(fs_cat "$T_TMP/out.raw" "$ROOT_OFFSET" /boot/grub/grub.cfg)" "fault.test=1"
check_eq "success: finalize script ran" "finalized" "$(fs_cat "$T_TMP/out.raw" "$ROOT_OFFSET" /etc/finalized)"
check_eq "success: file written into the FAT ESP" "written by the script" "$(fat_cat "$T_TMP/out.raw" "$ESP_OFFSET" /fault-test.txt)"
t_done
