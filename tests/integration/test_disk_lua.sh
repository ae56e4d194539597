#!/usr/bin/env bash
# A Lua recipe lays out a new disk through imgrecipe.disk: the debian-base
# image opened read-only, a 3 GiB GPT disk (ESP vfat, / ext4, /var xfs,
# /home btrfs subvolume), formatted, mounted, the OS copied over, fstab
# written by PARTUUID and UUID, saved as qcow2. Read back offline: table,
# filesystem ids, fstab, copied files, every filesystem checks clean.
# (Booting it needs a boot loader installed for the new layout: not here.)
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base

sum_before=$(stat -c '%s %Y' "$IMG_PATH")
set +e
"$IMGRECIPE" run "$TESTS_DIR/integration/recipes/new-layout.lua" --build-dir "$T_TMP/b" \
    --param input="$IMG_PATH" --param output="$T_TMP/new.qcow2" --param report="$T_TMP/report" \
    2> "$T_TMP/run.log"
rc=$?
set -e
check_eq "recipe succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -30 "$T_TMP/run.log"
check_eq "input untouched" "$sum_before" "$(stat -c '%s %Y' "$IMG_PATH")"
check_eq "output is qcow2" "qcow2" "$(qemu-img info --output=json "$T_TMP/new.qcow2" | jq -r .format)"
report=$(cat "$T_TMP/report")
check_contains "mounted parents first" "$report" $'mount / ext4 staged=false\nmount /boot/efi vfat'
check_contains "default fstab: one entry per mount, with its options" "$report" \
    "fstab-default=# /etc/fstab: written by imgrecipe from the storage layout;PARTLABEL=root / ext4 defaults 0 1;PARTLABEL=esp /boot/efi vfat defaults 0 2;PARTLABEL=home /home btrfs subvol=@home 0 2;PARTLABEL=var /var xfs defaults 0 2;"
check_contains "whole-disk partition devices" "$report" "devices=1=esp:Lp1,2=root:Lp2,3=var:Lp3,4=home:Lp4"
check_contains "/var mounted xfs" "$report" "mount /var xfs staged=false"
check_contains "/home mounted btrfs" "$report" "mount /home btrfs staged=false"
check_contains "dpkg status copied onto /var" "$report" "dpkg-status-on-var=true"
check_contains "ESP content seen in the mounted layout" "$report" "esp-boot=BOOTX64.EFI"
check_contains "hostname copied" "$report" "hostname=$IMG_HOSTNAME"
check_contains "a command runs in the new layout" "$report" "run=root:root 644;root:root 644"
check_contains "commands see the new disk's partitions by PARTUUID, UUID, PARTLABEL" "$report" \
    "devs=/dev/imgrecipe-part2;/dev/imgrecipe-part3;/dev/imgrecipe-part4;disk"

# Nothing leaked: no loop device on a file of this test, no mount under it,
# the run's working disk removed.
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
check_eq "working files removed" "" "$(find "$T_TMP/b" -mindepth 1 -maxdepth 1 2>/dev/null)"

raw=$T_TMP/new.raw
to_raw "$T_TMP/new.qcow2" "$raw"
check_eq "3 GiB disk" $((3 * 1024 * 1024 * 1024)) "$(stat -c %s "$raw")"
table=$(sfdisk -J "$raw")
check_eq "GPT" gpt "$(jq -r .partitiontable.label <<< "$table")"
check_eq "4 partitions" 4 "$(jq '.partitiontable.partitions | length' <<< "$table")"
types=$(jq -r '[.partitiontable.partitions[].type] | join(" ")' <<< "$table")
check_eq "types esp root var home" \
    "C12A7328-F81F-11D2-BA4B-00A0C93EC93B 4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709 4D21B016-B534-45C2-A9FB-5C16E091FD2D 933AC7E1-2EB4-4F13-B844-0E14E2AEF915" \
    "$types"
names=(esp root var home)
declare -A off size partuuid uuid
for i in 0 1 2 3; do
    n=${names[$i]}
    off[$n]=$(( $(jq ".partitiontable.partitions[$i].start" <<< "$table") * 512 ))
    size[$n]=$(( $(jq ".partitiontable.partitions[$i].size" <<< "$table") * 512 ))
    partuuid[$n]=$(jq -r ".partitiontable.partitions[$i].uuid" <<< "$table" | tr 'A-F' 'a-f')
    uuid[$n]=$(blkid --probe --offset "${off[$n]}" --size "${size[$n]}" -s UUID -o value "$raw")
    fstype=$(blkid --probe --offset "${off[$n]}" --size "${size[$n]}" -s TYPE -o value "$raw")
    check_contains "$n: report has its PARTUUID and UUID" "$report" "$n partuuid=${partuuid[$n]} uuid=${uuid[$n]} type=$fstype"
done
check_eq "esp start 1 MiB, 64 MiB" "1048576 67108864" "${off[esp]} ${size[esp]}"
check_eq "root 1536 MiB" $((1536 * 1024 * 1024)) "${size[root]}"

fstab=$(fs_cat "$raw" "${off[root]}" /etc/fstab)
expected="# /etc/fstab: written by imgrecipe from the storage layout
PARTUUID=${partuuid[root]} / ext4 errors=remount-ro 0 1
UUID=${uuid[esp]} /boot/efi vfat umask=0077 0 2
PARTUUID=${partuuid[home]} /home btrfs subvol=@home 0 2
UUID=${uuid[var]} /var xfs defaults 0 2"
check_eq "fstab by PARTUUID and UUID" "$expected" "$fstab"
check_eq "os-release copied (symlink)" "../usr/lib/os-release" \
    "$(debugfs -R 'stat /etc/os-release' "$raw?offset=${off[root]}" 2>/dev/null | sed -n 's/^Fast link dest: "\(.*\)"$/\1/p')"
check_eq "os-release content" "$(fs_cat "$IMG_PATH" "$ROOT_OFFSET" /usr/lib/os-release)" \
    "$(fs_cat "$raw" "${off[root]}" /usr/lib/os-release)"
owner_mode() { debugfs -R "stat $3" "$1?offset=$2" 2>/dev/null | grep -Eo '(Mode|User|Group): *[0-7]+' | xargs; }
for f in /etc/shadow /usr/bin/passwd /usr/bin/su; do
    want=$(owner_mode "$IMG_PATH" "$ROOT_OFFSET" "$f")
    check "$f: source has owner and mode ($want)" test -n "$want"
    check_eq "$f: owner and mode kept" "$want" "$(owner_mode "$raw" "${off[root]}" "$f")"
done
ls_names() { debugfs -R "ls -p $3" "$1?offset=$2" 2>/dev/null | awk -F/ '/^\// { print $6 }' | sort | xargs; }
check_eq "/var on the root filesystem is an empty mount point" ". .." "$(ls_names "$raw" "${off[root]}" /var)"
check_eq "/home on the root filesystem is an empty mount point" ". .." "$(ls_names "$raw" "${off[root]}" /home)"
check_eq "kernel copied" "$(debugfs -R 'ls -p /boot' "$IMG_PATH?offset=$ROOT_OFFSET" 2>/dev/null | grep -c vmlinuz)" \
    "$(debugfs -R 'ls -p /boot' "$raw?offset=${off[root]}" 2>/dev/null | grep -c vmlinuz)"
esp_sum=$(MTOOLS_SKIP_CHECK=1 mtype -i "$IMG_PATH@@$ESP_OFFSET" ::/EFI/BOOT/BOOTX64.EFI | sha256sum)
check "source ESP has a boot loader" test "${esp_sum%% *}" != "$(sha256sum < /dev/null | cut -d' ' -f1)"
check_eq "ESP boot loader copied" "$esp_sum" "$(MTOOLS_SKIP_CHECK=1 mtype -i "$raw@@${off[esp]}" ::/EFI/BOOT/BOOTX64.EFI | sha256sum)"

# Each filesystem extracted and checked with its own tool (read-only checks).
extract() { dd if="$raw" of="$T_TMP/$1.img" bs=1M iflag=skip_bytes,count_bytes skip="${off[$1]}" count="${size[$1]}" conv=sparse status=none; }
check "root: e2fsck -fn clean" e2fsck -fn "$raw?offset=${off[root]}"
extract esp
check "esp: fsck.fat -n clean" fsck.fat -n "$T_TMP/esp.img"
extract var
check "var: xfs_repair -n clean" xfs_repair -n -f "$T_TMP/var.img"
check_contains "var: dpkg status is on the xfs" "$(xfs_db -r -f -c 'path /lib/dpkg' -c 'ls' "$T_TMP/var.img" 2>&1)" "status"
rm -f "$T_TMP/var.img"
extract home
check "home: btrfs check clean" btrfs check --readonly "$T_TMP/home.img"
check_contains "home: subvolume @home" "$(btrfs inspect-internal dump-tree -t root "$T_TMP/home.img" 2>/dev/null)" "name @home"
check_contains "home: /home/marker written into subvolume @home (256), mounted with subvol=" \
    "$(btrfs inspect-internal dump-tree -t 256 "$T_TMP/home.img" 2>/dev/null)" "name: marker"
check_not_contains "home: nothing written at the top level" \
    "$(btrfs inspect-internal dump-tree -t 5 "$T_TMP/home.img" 2>/dev/null)" "name: marker"

# Failure path: a root too small for the OS. The copy fails naming cp and the
# disk space, and nothing is left: no output, no loop device, no mount.
set +e
msg=$("$IMGRECIPE" run "$TESTS_DIR/integration/recipes/new-layout.lua" --build-dir "$T_TMP/b2" \
    --param input="$IMG_PATH" --param output="$T_TMP/small.qcow2" --param report="$T_TMP/report2" \
    --param root_size=64M 2>&1)
rc=$?
set -e
check "too small a root fails" test "$rc" -ne 0
check_contains "the error names the step" "$msg" "step 'copy'"
check_contains "the error names cp" "$msg" "cp --archive"
check_contains "the error says why" "$msg" "No space left on device"
check "no output written" test ! -e "$T_TMP/small.qcow2"
check_eq "no loop device left after the failure" 0 "$(all_loops)"
check_eq "no mount left after the failure" 0 "$(mounts_under "$T_TMP")"
check_eq "no temporary output left" "" "$(find "$T_TMP" -maxdepth 1 -name '*small*')"

# SIGINT while the OS is being copied: the run stops, everything is released.
"$IMGRECIPE" run "$TESTS_DIR/integration/recipes/new-layout.lua" --build-dir "$T_TMP/b3" \
    --param input="$IMG_PATH" --param output="$T_TMP/int.qcow2" --param report="$T_TMP/report3" \
    2> "$T_TMP/int.log" &
pid=$!
for _ in $(seq 1 1200); do grep -q "copying the OS tree" "$T_TMP/int.log" && break; sleep 0.05; done
check_contains "interrupted during the copy" "$(cat "$T_TMP/int.log")" "copying the OS tree"
kill -INT "$pid"
set +e
wait "$pid"
rc=$?
set -e
check "interrupted run fails" test "$rc" -ne 0
check_contains "the error says interrupted" "$(cat "$T_TMP/int.log")" "interrupted"
check "no output after the interruption" test ! -e "$T_TMP/int.qcow2"
check_eq "no loop device left after the interruption" 0 "$(all_loops)"
loop=$(grep -o '/dev/loop[0-9]*p2' "$T_TMP/int.log" | head -1)
loop=${loop%p2}
loop=${loop#/dev/}
if [[ -n "$loop" ]] && ! losetup "/dev/$loop" > /dev/null 2>&1; then
    check_eq "no BLKPG partition left on $loop" "" "$(ls -d /sys/block/$loop/${loop}p* 2>/dev/null)"
fi
check_eq "build dir emptied after the interruption" "" "$(find "$T_TMP/b3" -mindepth 1 -maxdepth 1 2>/dev/null)"

# A recipe that fails with its disk attached, formatted and mounted, and never
# releases it: the garbage collector and the teardown stack release it all.
cat > "$T_TMP/forgets.lua" <<'LUA'
local disk = require "imgrecipe.disk"
return { name = "forgets", run = function(ctx)
  local d = disk.create(ctx.work_dir .. "/n.raw", "400M")
  d:partition { partitions = { { id = "esp", type = "esp", size = "16M" }, { id = "root", size = "grow" } } }
  d:format("esp", { type = "vfat" })
  d:format("root", { type = "btrfs", subvolumes = { { path = "@" } } })
  local root = d:mount { ["/"] = { partition = "root", options = "subvol=@" }, ["/boot/efi"] = "esp" }
  root:write_file("/boot/efi/x", "y")
  error("recipe fails with everything mounted")
end }
LUA
set +e
msg=$("$IMGRECIPE" run "$T_TMP/forgets.lua" --build-dir "$T_TMP/b4" 2>&1)
rc=$?
set -e
check "forgetful recipe fails" test "$rc" -ne 0
check_contains "with its own error" "$msg" "recipe fails with everything mounted"
check_eq "no loop device left by a forgetful recipe" 0 "$(all_loops)"
check_eq "build dir emptied after a forgetful recipe" "" "$(find "$T_TMP/b4" -mindepth 1 -maxdepth 1 2>/dev/null)"
t_done
