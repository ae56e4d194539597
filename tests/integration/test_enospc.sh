#!/usr/bin/env bash
# A full build directory never yields a "successful" build. The build dir is on
# a small filesystem the test mounts (tmpfs, and a loop-mounted ext4 file);
# a postCustomization script writes more into the image than the build dir
# can hold, so the loop device behind the image's root cannot write and the
# kernel aborts its journal while the script itself succeeds. The build must
# fail with "no space left in the build directory", write no output, leak
# nothing (no loop device, no mount, the small filesystem unmounts) and leave
# the input untouched. The same when the staged FAT ESP cannot be written back.
# Too little space for the working copy at all is refused up front. With
# enough space the same config builds and its output checks clean.
set -euo pipefail
# The small filesystems live in a mount namespace of this test: an imgrecipe
# run elsewhere on the machine that starts meanwhile would otherwise copy them
# into its own private namespace and keep them (and the loop device) busy.
if [[ -z "${ENOSPC_TEST_NS:-}" ]]; then
    ENOSPC_TEST_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/../lib/testlib.sh"
image_env tiny
before=$(sha256sum "$IMG_PATH" | cut -d' ' -f1)
loops0=$(all_loops)

# The small filesystems are the test's own: unmount them before the temp dir goes.
SMALL_MOUNTS=()
unmount_small() {
    local m
    for m in "${SMALL_MOUNTS[@]}"; do
        if mountpoint -q "$m"; then umount "$m" || true; fi
    done
}
trap 'rc=$?; set +e; unmount_small; (exit $rc); t_cleanup' EXIT

mount_tmpfs() {  # mount_tmpfs DIR SIZE
    mkdir -p "$1"
    mount -t tmpfs -o "size=$2" tmpfs "$1"
    SMALL_MOUNTS+=("$1")
}
mount_ext4() {  # mount_ext4 DIR SIZE: an ext4 file system in a file, loop-mounted
    mkdir -p "$1"
    truncate -s "$2" "$1.img"
    mkfs.ext4 -q -F "$1.img"
    mount -o loop "$1.img" "$1"
    SMALL_MOUNTS+=("$1")
}

write_config() {  # write_config NAME MIB: the script writes MIB MiB of random data into the image
    mkdir -p "$T_TMP/$1"
    cat > "$T_TMP/$1/config.yaml" <<YAML
input: {image: {path: $IMG_PATH}}
output: {image: {path: $T_TMP/$1/out.vhdx, format: vhdx}}
os:
  hostname: enospc-$1
scripts:
  postCustomization:
    - name: fill
      content: |
        dd if=/dev/urandom of=/big bs=1M count=$2 2>&1
        echo "wrote /big"
YAML
}

# Loop devices backed by files under DIR.
build_loops() { losetup -l -n -O BACK-FILE 2>/dev/null | grep -c -F -- "$1" || true; }

build() {  # build NAME BUILD-DIR -> sets rc and log
    set +e
    # count: nothing injected, but the build reports at exit anything of its
    # build dir still mounted or attached inside its own mount namespace.
    log=$(IMGRECIPE_FAULT_INJECT=count "$IMGRECIPE" build "$T_TMP/$1/config.yaml" --build-dir "$2" 2>&1)
    rc=$?
    set -e
}

after_failure() {  # after_failure NAME SMALL-DIR EXPECTED-MESSAGE
    local name=$1 small=$2 msg=$3
    check "$name: non-zero exit" test "$rc" -ne 0
    check_contains "$name: clear message" "$log" "$msg"
    check_eq "$name: no loop device left" 0 "$(build_loops "$small/")"
    check_eq "$name: no mount left under the build dir" 0 "$(mounts_under "$small/")"
    check_not_contains "$name: nothing left inside the build's namespace" "$log" "left behind:"
    check_eq "$name: input unchanged" "$before" "$(sha256sum "$IMG_PATH" | cut -d' ' -f1)"
    check "$name: no output file" test ! -e "$T_TMP/$name/out.vhdx"
    check_eq "$name: no temp output left" "" "$(ls -A "$T_TMP/$name" | grep -v -e '^config.yaml$' || true)"
    check_eq "$name: run directory removed" "" "$(ls -A "$small/build" 2>/dev/null || true)"
    check "$name: the small filesystem unmounts (nothing holds it)" umount "$small"
    check_eq "$name: no loop device of the test left" "$loops0" "$(all_loops)"
}

# Free space of the tiny image's root: the script must fit in the image but
# not in the build dir.
root_free_mib=$(( $(debugfs -R stats "$IMG_PATH?offset=$ROOT_OFFSET" 2>/dev/null |
    awk -F: '/^Free blocks:/ { print $2 }') * 4096 / 1048576 ))
check "tiny image root has room for 15 MiB (has $root_free_mib MiB)" test "$root_free_mib" -gt 16

# 1. tmpfs build dir: working copy (~7 MiB) fits, 15 MiB more does not.
write_config tmpfs 15
mount_tmpfs "$T_TMP/small-tmpfs" 16m
build tmpfs "$T_TMP/small-tmpfs/build"
after_failure tmpfs "$T_TMP/small-tmpfs" "no space left in the build directory $T_TMP/small-tmpfs/build ("
check_contains "tmpfs: names what was lost" "$log" "lost writes"

# 2. The same on an ext4 build dir (a loop-mounted file of the test).
write_config ext4 15
mount_ext4 "$T_TMP/small-ext4" 20m
build ext4 "$T_TMP/small-ext4/build"
after_failure ext4 "$T_TMP/small-ext4" "no space left in the build directory $T_TMP/small-ext4/build ("

# 3. The staged FAT ESP's write-back runs out of space (the script's 6 MiB fit in the stage).
mkdir -p "$T_TMP/fat"
cat > "$T_TMP/fat/config.yaml" <<YAML
input: {image: {path: $IMG_PATH}}
output: {image: {path: $T_TMP/fat/out.vhdx, format: vhdx}}
scripts:
  postCustomization:
    - name: fill-esp
      content: dd if=/dev/urandom of=/boot/efi/big bs=1M count=6 2>&1
YAML
mount_tmpfs "$T_TMP/small-fat" 18m
build fat "$T_TMP/small-fat/build"
after_failure fat "$T_TMP/small-fat" "no space left in the build directory $T_TMP/small-fat/build ("
check_contains "fat: failed in the FAT write-back" "$log" "writing $T_TMP/small-fat/build/"

# 4. Plainly too little for the working copy: refused before converting.
write_config upfront 1
mount_tmpfs "$T_TMP/small-upfront" 4m
build upfront "$T_TMP/small-upfront/build"
after_failure upfront "$T_TMP/small-upfront" "no space left in the build directory $T_TMP/small-upfront/build ("
check_contains "upfront: says what needs the space" "$log" "the working copy of $IMG_PATH takes up to"

# 5. Enough space: the same kind of build succeeds and its root checks clean.
write_config roomy 15
mount_tmpfs "$T_TMP/small-roomy" 64m
build roomy "$T_TMP/small-roomy/build"
check_eq "roomy: exit 0" 0 "$rc"
[[ $rc -eq 0 ]] || printf '%s\n' "$log" | tail -20
to_raw "$T_TMP/roomy/out.vhdx" "$T_TMP/roomy/out.raw"
fsck_log=$(e2fsck -f -n "$T_TMP/roomy/out.raw?offset=$ROOT_OFFSET" 2>&1) && fsck_rc=0 || fsck_rc=$?
check_eq "roomy: output root passes e2fsck -fn" 0 "$fsck_rc"
[[ $fsck_rc -eq 0 ]] || printf '%s\n' "$fsck_log"
check_eq "roomy: hostname written" "enospc-roomy" "$(fs_cat "$T_TMP/roomy/out.raw" "$ROOT_OFFSET" /etc/hostname)"
check_eq "roomy: /big complete" "$((15 * 1048576))" \
    "$(debugfs -R 'stat /big' "$T_TMP/roomy/out.raw?offset=$ROOT_OFFSET" 2>/dev/null | awk '/Size:/ && !done { for (i=1;i<=NF;i++) if ($i=="Size:") print $(i+1); done=1 }')"
check_eq "roomy: no loop device left" "$loops0" "$(all_loops)"
check "roomy: the small filesystem unmounts" umount "$T_TMP/small-roomy"
t_done
