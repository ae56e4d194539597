#!/usr/bin/env bash
# Existing-verity base images (issue 10 §2, alic-reference §4.7, §5.2): an
# image built with /usr verity (tests/lib/verity_layout.sh) customized again.
# - without the reinitialize-verity preview feature: ALIC's error;
# - reinitializeVerity none (default): /usr is mounted from its data
#   partition read-only: changes to /etc and the kernel arguments apply, the
#   usr and hash partitions are byte for byte unchanged and still verify
#   against the same usrhash; a change under /usr fails naming the read-only
#   filesystem;
# - reinitializeVerity: all: the change under /usr is applied, the tree is
#   made again (veritysetup verify against the new usrhash in grub.cfg, the
#   old one fails), the arguments keep their forms (PARTLABEL, UUID of the new
#   superblock, panic). Nothing leaks.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
source "$TESTS_DIR/lib/verity_layout.sh"
image_env debian-dracut

v1=$T_TMP/v1.raw
verity_usr_layout_config "$T_TMP/v.yaml" "$v1" raw
"$IMGRECIPE" build "$T_TMP/v.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b" 2> "$T_TMP/build.log" \
    || { tail -30 "$T_TMP/build.log"; t_fail "usr verity base image build"; t_done; }

# Partition N of image $1 ($2 = number, 1-based) copied to $3.
part_off() { echo $(( $(sfdisk -J "$1" | jq ".partitiontable.partitions[$(($2 - 1))].start") * 512 )); }
part_size() { echo $(( $(sfdisk -J "$1" | jq ".partitiontable.partitions[$(($2 - 1))].size") * 512 )); }
part() { dd if="$1" of="$3" bs=1M iflag=skip_bytes,count_bytes skip="$(part_off "$1" "$2")" count="$(part_size "$1" "$2")" conv=sparse status=none; }
grubcfg() { fs_cat "$1" "$(part_off "$1" 2)" /boot/grub/grub.cfg; }
usrhash() { grubcfg "$1" | grep -o 'usrhash=[0-9a-f]*' | head -1 | cut -d= -f2; }
h1=$(usrhash "$v1")
check_eq "base image: usrhash in grub.cfg" 64 "${#h1}"
part "$v1" 3 "$T_TMP/usr1.img"
part "$v1" 4 "$T_TMP/hash1.img"
sum1=$(cat "$T_TMP/usr1.img" "$T_TMP/hash1.img" | sha256sum)

recustomize() {  # recustomize NAME OUTPUT [reinit]  (config body on stdin, appended)
    local name=$1 out=$2
    { cat; printf 'output:\n  image:\n    path: %s\n    format: raw\n' "$out"; } > "$T_TMP/$name.yaml"
    "$IMGRECIPE" build "$T_TMP/$name.yaml" --image-file "$v1" --build-dir "$T_TMP/b-$name" 2> "$T_TMP/$name.log"
}

# 1. ALIC requires the preview feature for a verity input.
set +e
recustomize nopreview "$T_TMP/x.raw" <<'YAML'
os:
  hostname: again
YAML
rc=$?
set -e
check_eq "no preview feature: refused" 1 "$(( rc != 0 ))"
check_contains "no preview feature: ALIC's error" "$(cat "$T_TMP/nopreview.log")" "preview feature 'reinitialize-verity' required to customize verity enabled base image"

# 2. Read-only (reinitializeVerity none): /etc, kernel args change; /usr does not.
v2=$T_TMP/v2.raw
set +e
recustomize ro "$v2" <<'YAML'
previewFeatures: [reinitialize-verity]
storage:
  reinitializeVerity: none
os:
  additionalFiles:
  - destination: /etc/animals.txt
    content: "cat, dog"
  kernelCommandLine:
    extraCommandLine: [imgrecipe.test=1]
YAML
rc=$?
set -e
check_eq "read-only verity: build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -20 "$T_TMP/ro.log"
check_contains "log: /usr mounted from its data partition, read-only" "$(cat "$T_TMP/ro.log")" "dm-verity 'usr' data, read-only) at /usr"
check_eq "/etc change applied" "cat, dog" "$(fs_cat "$v2" "$(part_off "$v2" 2)" /etc/animals.txt)"
check_contains "kernel argument appended" "$(grubcfg "$v2" | grep -E '^\s*linux' | head -1)" "imgrecipe.test=1"
check_eq "usrhash unchanged" "$h1" "$(usrhash "$v2")"
part "$v2" 3 "$T_TMP/usr2.img"
part "$v2" 4 "$T_TMP/hash2.img"
check_eq "usr data and hash partitions unchanged, byte for byte" "$sum1" "$(cat "$T_TMP/usr2.img" "$T_TMP/hash2.img" | sha256sum)"
check "still verifies against the usrhash" veritysetup verify "$T_TMP/usr2.img" "$T_TMP/hash2.img" "$h1"
check_contains "image history skipped (read-only /usr)" "$(cat "$T_TMP/ro.log")" "image history not written"
rm -f "$v2" "$T_TMP/usr2.img" "$T_TMP/hash2.img"

set +e
recustomize rousr "$T_TMP/x.raw" <<'YAML'
previewFeatures: [reinitialize-verity]
os:
  additionalFiles:
  - destination: /usr/local/share/animals.txt
    content: "cat, dog"
YAML
rc=$?
set -e
check_eq "read-only verity: a change under /usr fails" 1 "$(( rc != 0 ))"
msg=$(cat "$T_TMP/rousr.log")
check_contains "the error names the path" "$msg" "/usr/local/share/animals.txt"
check_contains "the error says read-only" "$msg" "Read-only file system"
check "no output written" test ! -e "$T_TMP/x.raw"

# 3. reinitializeVerity: all: /usr changes, the tree and the arguments are made again.
v3=$T_TMP/v3.raw
set +e
recustomize rw "$v3" <<'YAML'
previewFeatures: [reinitialize-verity]
storage:
  reinitializeVerity: all
os:
  additionalFiles:
  - destination: /usr/local/share/animals.txt
    content: "cat, dog"
YAML
rc=$?
set -e
check_eq "reinitializeVerity all: build succeeds" 0 "$rc"
[[ $rc -eq 0 ]] || tail -20 "$T_TMP/rw.log"
h3=$(usrhash "$v3")
check_eq "new usrhash in grub.cfg" 64 "${#h3}"
check "usrhash changed" test "$h3" != "$h1"
part "$v3" 3 "$T_TMP/usr3.img"
part "$v3" 4 "$T_TMP/hash3.img"
check "veritysetup verify against the new usrhash" veritysetup verify "$T_TMP/usr3.img" "$T_TMP/hash3.img" "$h3"
check "the old usrhash no longer verifies" bash -c "! veritysetup verify '$T_TMP/usr3.img' '$T_TMP/hash3.img' '$h1' 2>/dev/null"
check_eq "the change is on the usr partition" "cat, dog" "$(debugfs -R 'cat /local/share/animals.txt' "$T_TMP/usr3.img" 2>/dev/null)"
check "usr filesystem clean" e2fsck -fn "$T_TMP/usr3.img"
sbuuid=$(veritysetup dump "$T_TMP/hash3.img" | awk '/^UUID:/ { print $2 }')
check "new superblock UUID" test "$sbuuid" != "$(veritysetup dump "$T_TMP/hash1.img" | awk '/^UUID:/ { print $2 }')"
args="rd.systemd.verity=1 usrhash=$h3 systemd.verity_usr_data=PARTLABEL=usr systemd.verity_usr_hash=UUID=$sbuuid systemd.verity_usr_options=panic-on-corruption"
linux=$(grubcfg "$v3" | grep -E '^\s*linux' | head -1)
check_contains "kernel arguments exact, forms kept" "$linux" "$args"
check_eq "every kernel line has the new usrhash" "$(grubcfg "$v3" | grep -cE '^\s*linux')" "$(grubcfg "$v3" | grep -cE "^\s*linux.*usrhash=$h3")"
check_eq "the old usrhash is gone" 0 "$(grubcfg "$v3" | grep -c "$h1" || true)"

check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
t_done
