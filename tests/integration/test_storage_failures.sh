#!/usr/bin/env bash
# Failures of the storage path (a new disk layout, issue 8 §5) end cleanly:
# 1. a layout larger than maxSize: a config error naming file:line:column and
#    the field (YAML), a usage error naming the partition (Lua, at run time);
# 2. a filesystem tool missing on the host (PATH without mkfs.xfs): an error
#    naming the tool and the Debian package;
# 3. a root partition too small for the OS tree (ENOSPC while copying): an
#    error naming the partition and its mount point.
# Each exits non-zero with that message, leaves no loop device, mount, output
# or temporary output, removes its run directory and keeps the input
# byte-identical.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base
before=$(sha256sum "$IMG_PATH" | cut -d' ' -f1)
loops0=$(all_loops)

write_config() {  # write_config NAME MAXSIZE ROOT-SIZE ROOT-FSTYPE
    mkdir -p "$T_TMP/$1/out"
    cat > "$T_TMP/$1/config.yaml" <<YAML
storage:
  bootType: efi
  disks:
  - partitionTableType: gpt
    maxSize: $2
    partitions:
    - {id: esp, type: esp, start: 1M, size: 8M}
    - {id: root, type: root, size: $3}
  filesystems:
  - {deviceId: esp, type: fat32, mountPoint: /boot/efi}
  - {deviceId: root, type: $4, mountPoint: /}
os:
  bootloader:
    resetType: hard-reset
output: {image: {path: $T_TMP/$1/out/disk.qcow2, format: qcow2}}
YAML
}

after_failure() {  # after_failure NAME RC LOG EXPECTED-MESSAGE
    local name=$1 rc=$2 log=$3 msg=$4
    check "$name: non-zero exit" test "$rc" -ne 0
    check_contains "$name: message" "$log" "$msg"
    check_eq "$name: no loop device left" "$loops0" "$(all_loops)"
    check_eq "$name: no mount left" 0 "$(mounts_under "$T_TMP")"
    check_eq "$name: input unchanged" "$before" "$(sha256sum "$IMG_PATH" | cut -d' ' -f1)"
    check_eq "$name: no output and no temporary output beside it" "" "$(ls -A "$T_TMP/$name/out")"
    check_eq "$name: run directory removed" "" "$(ls -A "$T_TMP/$name/build" 2>/dev/null || true)"
}

build() {  # build NAME [ENV...]: runs the build of NAME's config; sets rc and log
    local name=$1; shift
    set +e
    log=$(env "$@" "$IMGRECIPE" build "$T_TMP/$name/config.yaml" --image-file "$IMG_PATH" \
        --build-dir "$T_TMP/$name/build" 2>&1)
    rc=$?
    set -e
}

# 1. Partitions larger than maxSize: known from the config alone. maxSize
# is line 5, column 14 of the config.
write_config too-large 64M 128M ext4
build too-large
after_failure too-large "$rc" "$log" \
    "$T_TMP/too-large/config.yaml:5:14: storage.disks[0].maxSize: the disk's partitions need 138M but maxSize is only 64M"
check "too-large: refused before the image is opened" test -z "$(grep -F '[open]' <<< "$log" || true)"

# 1b. The same through the Lua API (imgrecipe.storage, as recipes call it):
# found when the table is written; nothing is written then.
name=too-large-lua
mkdir -p "$T_TMP/$name/out"
cat > "$T_TMP/$name/recipe.lua" <<'LUA'
local storage = require "imgrecipe.storage"
return {
  name = "too-large",
  params = { input = { required = true }, output = { required = true } },
  run = function(ctx)
    local img = ctx:open(ctx.params.input)
    local d = storage.build(img, { disks = { { maxSize = "64M", partitions = {
        { id = "esp", type = "esp", start = "1M", size = "8M" },
        { id = "root", type = "root", size = "128M" } } } },
      filesystems = { { deviceId = "root", type = "ext4", mountPoint = "/" } } },
      { path = ctx.work_dir .. "/disk.raw" })
    d:save(ctx.params.output, "qcow2")
  end,
}
LUA
set +e
log=$("$IMGRECIPE" run "$T_TMP/$name/recipe.lua" --build-dir "$T_TMP/$name/build" \
    --param input="$IMG_PATH" --param output="$T_TMP/$name/out/disk.qcow2" 2>&1)
rc=$?
set -e
after_failure "$name" "$rc" "$log" "partition 'root': ends at 137 MiB but the disk (64 MiB) has room for partitions up to 63 MiB"

# 2. mkfs.xfs missing on the host: PATH holds every other program.
has_mkfs_xfs() { command -v mkfs.xfs > /dev/null; }
check "mkfs.xfs is installed on this host (else case 2 proves nothing)" has_mkfs_xfs
bin=$T_TMP/bin
mkdir -p "$bin"
IFS=: read -r -a dirs <<< "$PATH"
for d in "${dirs[@]}"; do
    [[ -d "$d" ]] || continue
    for f in "$d"/*; do
        n=${f##*/}
        [[ "$n" == mkfs.xfs || -e "$bin/$n" || -L "$bin/$n" ]] || ln -s "$f" "$bin/$n"
    done
done
check "the PATH for case 2 lacks mkfs.xfs" test -z "$(PATH=$bin command -v mkfs.xfs || true)"
write_config no-mkfs-xfs 2G grow xfs
build no-mkfs-xfs PATH="$bin"
after_failure no-mkfs-xfs "$rc" "$log" "step 'storage': mkfs.xfs is not installed on this host (Debian package xfsprogs)"

# 3. A root partition too small for the OS tree: ENOSPC in the copy.
write_config root-too-small 120M grow ext4
build root-too-small
after_failure root-too-small "$rc" "$log" \
    "step 'storage': partition 'root' is too small for the OS: no space left on the filesystem mounted at / (ext4 "
check_contains "root-too-small: says what to do" "$log" "make its partition larger"
check_contains "root-too-small: names cp and why" "$log" "No space left on device"
check_contains "root-too-small: names the command" "$log" "cp --archive"
check_not_contains "root-too-small: not blamed on the build directory" "$log" "no space left in the build directory"
t_done
