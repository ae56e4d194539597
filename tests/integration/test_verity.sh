#!/usr/bin/env bash
# dm-verity primitives (imgrecipe.verity) on a new disk: an ext4 root hashed
# into a separate hash partition and an ext4 /usr hashed inline (ALIC's
# sizing) verify in process and with `veritysetup verify` on the saved disk;
# one flipped data byte makes both fail; superblocks read back; kernel
# arguments exact; errors clear. Root (loop devices); needs cryptsetup-bin.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
command -v veritysetup >/dev/null || { echo "SKIP veritysetup missing (cryptsetup-bin)"; exit 77; }

raw=$T_TMP/verity.raw
set +e
"$IMGRECIPE" run "$TESTS_DIR/integration/recipes/verity.lua" --build-dir "$T_TMP/b" \
    --param output="$raw" --param report="$T_TMP/report" 2> "$T_TMP/run.log"
rc=$?
set -e
check_eq "recipe succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -30 "$T_TMP/run.log"
declare -A R
while IFS= read -r line; do R[${line%%=*}]=${line#*=}; done < "$T_TMP/report"

check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"

# ALIC's inline sizing of a 64 MiB partition (calculateInlineVerityDataSize).
check_eq "inline data size of 64M" 66060288 "${R[inline-data-size-64M]}"
check_eq "hash area for its 16128 blocks: 126 + 1 + superblock" $((128 * 4096)) "${R[hash-size-usr]}"
check_eq "root: 256 MiB of data blocks" 65536 "${R[root-data-blocks]}"
check_eq "root: given salt" "$(printf '5a%.0s' {1..32})" "${R[root-salt]}"
check_eq "root: hash area 512+4+1+1 blocks" $((518 * 4096)) "${R[root-hash-size]}"
check_eq "root: separate hash partition" "false:0" "${R[root-inline]}:${R[root-hash-offset]}"
check_eq "usr: inline at the data size" "true:66060288:16128" "${R[usr-inline]}:${R[usr-hash-offset]}:${R[usr-data-blocks]}"
check_eq "usr: random 32-byte salt" 64 "${R[usr-salt-length]}"
check_eq "in-process verify: root" true "${R[verify-root]}"
check_eq "in-process verify: usr inline" true "${R[verify-usr]}"
check_contains "wrong root hash fails verification" "${R[verify-wrong-hash]}" "false:"
check_eq "superblock read back" \
    "sha256,1,4096,4096,65536,$(printf '5a%.0s' {1..32}),nil" "${R[read-root]}"
check_eq "inline superblock read back" "16128,66060288" "${R[read-usr]}"

rh=${R[root-hash]} uh=${R[usr-hash]}
check_eq "kernel arguments as ALIC writes them" \
    "rd.systemd.verity=1 roothash=$rh systemd.verity_root_data=PARTUUID=${R[partuuid-root]} systemd.verity_root_hash=PARTUUID=${R[partuuid-roothash]} systemd.verity_root_options= usrhash=$uh systemd.verity_usr_data=PARTLABEL=usr systemd.verity_usr_hash=UUID=${R[fsuuid-usr]} systemd.verity_usr_options=panic-on-corruption,hash-offset=66060288" \
    "${R[args]}"
check_eq "hash by superblock UUID, signature, pre.verity.mount" \
    "rd.systemd.verity=1 roothash=$rh systemd.verity_root_data=PARTUUID=${R[partuuid-root]} systemd.verity_root_hash=UUID=${R[read-root-uuid]} systemd.verity_root_options=restart-on-corruption,root-hash-signature=/boot/root.hash.sig pre.verity.mount=b00t" \
    "${R[args-hash-uuid]}"
check_contains "hash partition too small: named by id" "${R[err-too-small]}" \
    "verity.format: verity: partition 'tiny' (/dev/loop"
check_contains "hash partition too small: the recipe's line" "${R[err-too-small]}" "recipes/verity.lua:"
check_contains "hash partition too small: sizes named" "${R[err-too-small]}" \
    "too small for the hash tree: 65536 data blocks need 2121728 bytes at offset 0, it has 1048576 bytes"
check_contains "inline over a full-size filesystem refused" "${R[err-fs-too-big]}" \
    "the ext4 filesystem on partition 'full' (/dev/loop"
check_contains "inline over a full-size filesystem: sizes named" "${R[err-fs-too-big]}" \
    "spans 16777216 bytes, past the 15728640-byte data area"
check_contains "no superblock" "${R[err-no-superblock]}" "verity.read: verity: no verity superblock at offset 0"
check_contains "kernel args only for root and usr" "${R[err-bad-name]}" "device name 'home'"
check_contains "xfs size refused" "${R[err-xfs-size]}" "opts.size: only ext4 and vfat"

# The saved disk, partition by partition, checked by veritysetup.
table=$(sfdisk -J "$raw")
part() {  # part INDEX OUT: copy partition INDEX (0-based) to OUT
    local s n
    s=$(jq ".partitiontable.partitions[$1].start" <<< "$table")
    n=$(jq ".partitiontable.partitions[$1].size" <<< "$table")
    dd if="$raw" of="$2" bs=512 skip="$s" count="$n" conv=sparse status=none
}
part 0 "$T_TMP/root.img"; part 1 "$T_TMP/roothash.img"; part 2 "$T_TMP/usr.img"
check_eq "root data is the ext4 made" ext4 "$(blkid -o value -s TYPE "$T_TMP/root.img")"
check_eq "hash partition holds a verity superblock" DM_verity_hash "$(blkid -o value -s TYPE "$T_TMP/roothash.img")"
check_eq "its UUID is the superblock's" "${R[read-root-uuid]}" "$(blkid -o value -s UUID "$T_TMP/roothash.img")"
check_eq "usr ext4 stops at the data area" 66060288 \
    "$(( $(dumpe2fs -h "$T_TMP/usr.img" 2>/dev/null | awk -F: '/^Block count/{print $2}') * 4096 ))"
check "veritysetup verify: root" veritysetup verify "$T_TMP/root.img" "$T_TMP/roothash.img" "$rh"
check "veritysetup verify: usr inline" veritysetup verify "$T_TMP/usr.img" "$T_TMP/usr.img" "$uh" --hash-offset 66060288
dump=$(veritysetup dump "$T_TMP/roothash.img")
check_contains "veritysetup dump: data blocks" "$dump" $'Data blocks:     \t65536'
check_contains "veritysetup dump: hash size as we computed" "$dump" $'Hash device size: \t'"${R[root-hash-size]} [bytes]"
check_contains "veritysetup dump: salt" "$dump" "$(printf '5a%.0s' {1..32})"

# One byte of data flipped (in the saved disk and in the copies).
flip() {  # flip FILE OFFSET
    local b
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $(( b ^ 1 )))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
root_start=$(( $(jq ".partitiontable.partitions[0].start" <<< "$table") * 512 ))
usr_start=$(( $(jq ".partitiontable.partitions[2].start" <<< "$table") * 512 ))
flip "$raw" $(( root_start + 200 * 1024 * 1024 + 77 ))
flip "$T_TMP/root.img" $(( 200 * 1024 * 1024 + 77 ))
flip "$raw" $(( usr_start + 5000 ))
flip "$T_TMP/usr.img" 5000
check "veritysetup verify fails on flipped root data" bash -c "! veritysetup verify '$T_TMP/root.img' '$T_TMP/roothash.img' $rh 2>/dev/null"
check "veritysetup verify fails on flipped usr data" bash -c "! veritysetup verify '$T_TMP/usr.img' '$T_TMP/usr.img' $uh --hash-offset 66060288 2>/dev/null"

mkdir -p "$T_TMP/b2/in"
mv "$raw" "$T_TMP/b2/in/verity.raw"
set +e
"$IMGRECIPE" run "$TESTS_DIR/integration/recipes/verity.lua" --build-dir "$T_TMP/b2" \
    --param mode=verify --param output="$T_TMP/b2/in/verity.raw" --param report="$T_TMP/report2" \
    --param root_hash="$rh" --param usr_hash="$uh" --param usr_offset=66060288 2> "$T_TMP/run2.log"
rc=$?
set -e
check_eq "verify run succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -30 "$T_TMP/run2.log"
report2=$(cat "$T_TMP/report2")
check_contains "in-process verify fails on flipped root data" "$report2" "verify-root=false:"
check_contains "in-process verify fails on flipped usr data" "$report2" "verify-usr=false:"
check_eq "no loop device left" 0 "$(all_loops)"
t_done
