#!/usr/bin/env bash
# `imgrecipe translate` is equivalent to `imgrecipe build`: for the example
# config and a sample of ALIC's testdata configs, the image built from the
# YAML and the image made by `imgrecipe run` of its translation (input,
# output and format given as --param) have the same partition table and the
# same file trees (paths, types, modes, owners, content hashes) on every
# partition. Timestamps are not compared; naturally random content (the
# release file's build id and time, the history, password hashes, a
# finalize script's date) is compared with those values removed.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base

SHARED=${IMGRECIPE_SHARED_DIR:-$REPO_DIR/../shared}
DATA=$SHARED/compat/alic-testdata

mnt=$T_TMP/mnt
loop=
cleanup_loop() {
    if [[ -n "$loop" ]]; then
        losetup -d "$loop"
        # A detach while the device is still held is deferred: wait for it.
        for _ in $(seq 50); do losetup "$loop" > /dev/null 2>&1 || break; sleep 0.1; done
    fi
    loop=
}
trap 'cleanup_loop; t_cleanup' EXIT

# manifest DIR: every entry (path, type, mode, owner), content hashes of
# the files, symlink targets; timestamps left out. Files that name the
# disk's ids (fstab, grub.cfg, ...) are hashed with the ids replaced by
# their position ($IDSED); $APART lists more paths compared by presence.
export ID_FILES='EFI/[^/]*/[^/]*\.(EFI|efi)|etc/fstab|etc/default/grub|etc/kernel/cmdline|boot/grub2?/grub\.cfg|EFI/[^/]*/grub\.cfg|boot/efi/EFI/[^/]*/grub\.cfg'
manifest() {
    (cd "$1" && find . -mindepth 1 \( -path ./lost+found -prune \) -o -printf '%p %y %m %U:%G\n' | LC_ALL=C sort)
    (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum |
        awk -v apart="^\\./(etc/image-customizer-release|usr/share/image-customizer/.*history.*|etc/imgrecipe/built-at|etc/shadow-?${APART:+|$APART})$" \
            -v idf="^\\./($ID_FILES)$" '
             $2 ~ apart { print $2 " (content compared apart)"; next }
             $2 ~ idf { print $2 " (ids normalized below)"; next }
             { print $2 " " substr($1, 1, 16) }')
    # Password hashes have a random salt: compared without them.
    for f in etc/shadow etc/shadow-; do
        if [[ -f "$1/$f" ]]; then echo "$f without hashes: $(cut -d: -f1,4- "$1/$f" | sha256sum | cut -c1-16)"; fi
    done
    (cd "$1" && find . -type f | LC_ALL=C sort | { grep -E "^\./($ID_FILES)$" || true; } | while read -r f; do
        echo "$f with ids normalized: $(sed -f "$IDSED" "$f" | sha256sum | cut -c1-16)"
    done)
    (cd "$1" && find . -type l -printf '%p -> %l\n' | LC_ALL=C sort)
}

# ids IMG SEDFILE: a sed script replacing the disk's random ids (disk and
# partition GUIDs, filesystem UUIDs) by their position, in both cases.
ids() {
    local img=$1 n=0 start size id
    : > "$2"
    { sfdisk -J "$1" | python3 -c 'import json,sys
t = json.load(sys.stdin)["partitiontable"]
print(t.get("id", ""))
for p in t["partitions"]: print(p.get("uuid", ""))'
      while read -r start size; do
          blkid --probe --offset $((start * 512)) --size $((size * 512)) -s UUID -o value "$img" 2>/dev/null || echo
      done < <(partitions "$img"); } | while read -r id; do
        n=$((n + 1))
        [[ -n "$id" ]] || continue
        echo "s/${id,,}/@ID$n@/g; s/${id^^}/@ID$n@/g" >> "$2"
    done
}

partitions() {
    sfdisk -J "$1" | python3 -c 'import json,sys
for p in json.load(sys.stdin)["partitiontable"]["partitions"]: print(p["start"], p["size"])'
}

# tree IMG OUT: the partition table (device names left out) and the
# manifest of each partition's filesystem.
tree() {
    local img=$1 out=$2 n=0 start size type
    : > "$out"
    export IDSED=$out.ids.sed APART
    ids "$img" "$IDSED"
    sfdisk -J "$img" | grep -v -e '"device"' -e '"node"' | sed -f "$IDSED" >> "$out"
    while read -r start size; do
        n=$((n + 1))
        type=$(blkid --probe --offset $((start * 512)) --size $((size * 512)) -s TYPE -o value "$img" 2>/dev/null || true)
        echo "partition $n: ${type:-no filesystem}" >> "$out"
        case "$type" in
        "") ;;
        vfat)  # no vfat mounts here: copied out with mtools
            rm -rf "$T_TMP/esp" && mkdir -p "$T_TMP/esp"
            MTOOLS_SKIP_CHECK=1 mcopy -s -n -i "$img@@$((start * 512))" '::*' "$T_TMP/esp/"
            manifest "$T_TMP/esp" | grep -v -E '^\S+ [dfl] ' >> "$out"  # FAT has no modes or owners
            rm -rf "$T_TMP/esp"
            ;;
        *)
            mkdir -p "$mnt"
            local opts=ro
            [[ $type == ext* ]] && opts=ro,noload
            # Attached and detached here, not by mount: the detach is then synchronous.
            loop=$(losetup --find --show --read-only --offset $((start * 512)) --sizelimit $((size * 512)) "$img")
            # Mounted in a private mount namespace: a namespace another process
            # creates meanwhile cannot copy the mount and hold the loop device.
            unshare -m --propagation private bash -c "$(declare -f manifest)
                mount -t $type -o $opts $loop $mnt && manifest $mnt" >> "$out"
            cleanup_loop
            ;;
        esac
    done < <(partitions "$img")
}

compared=0 expected=2  # the layout and the example config, plus the testdata configs below

# same NAME CONFIG [build options]: build vs translate + run, compared.
same() {
    local name=$1 cfg=$2
    shift 2
    local d=$T_TMP/$name
    mkdir -p "$d"
    if ! "$IMGRECIPE" build "$cfg" --image-file "$IMG_PATH" --output-image-file "$d/built.raw" \
        --output-image-format raw --build-dir "$d/b1" "$@" 2> "$d/build.log"; then
        tail -20 "$d/build.log"
        t_fail "$name: build"
        return
    fi
    check_contains "$name: build summary line" "$(tail -1 "$d/build.log")" "done: $d/built.raw (raw, "
    "$IMGRECIPE" translate "$cfg" -o "$d/recipe.lua" || { t_fail "$name: translate"; return; }
    local params=()
    [[ " $* " == *" --deb-source "* ]] && params+=(--param "deb_sources=$DEBS")
    if ! "$IMGRECIPE" run "$d/recipe.lua" --param input="$IMG_PATH" --param output="$d/run.raw" \
        --param format=raw --build-dir "$d/b2" "${params[@]}" 2> "$d/run.log"; then
        tail -20 "$d/run.log"
        t_fail "$name: run of the translation"
        return
    fi
    check_contains "$name: summary line" "$(tail -1 "$d/run.log")" "done: $d/run.raw (raw, "
    tree "$d/built.raw" "$d/built.tree"
    tree "$d/run.raw" "$d/run.tree"
    check "$name: manifest has files" test "$(wc -l < "$d/built.tree")" -gt 100
    compared=$((compared + 1))
    if diff -u "$d/built.tree" "$d/run.tree" > "$d/diff"; then
        t_pass "$name: same partition table and file trees"
    else
        head -40 "$d/diff"
        t_fail "$name: same partition table and file trees"
    fi
    rm -f "$d/built.raw" "$d/run.raw"
}

# A new partition layout (storage.disks): random disk, partition and
# filesystem ids are compared by position; the regenerated initramfs
# (timestamps inside) by presence.
mkdir -p "$T_TMP/layout"
cat > "$T_TMP/layout/config.yaml" <<'YAML'
storage:
  bootType: efi
  disks:
  - partitionTableType: gpt
    maxSize: 2G
    partitions:
    - {id: esp, type: esp, start: 1M, size: 64M}
    - {id: root, type: root, size: grow}
  filesystems:
  - {deviceId: esp, type: fat32, mountPoint: {path: /boot/efi, options: umask=0077}}
  - {deviceId: root, type: ext4, mountPoint: /}
os:
  bootloader: {resetType: hard-reset}
  hostname: layout
  kernelCommandLine: {extraCommandLine: [console=ttyS0]}
output: {image: {path: out.raw, format: raw}}
YAML
APART='boot/initrd\.img-.*' same layout "$T_TMP/layout/config.yaml"

# The comparison can fail: two different configs give different trees.
differ() {
    check "the comparison sees a difference ($1 vs $2)" \
        test -s "$T_TMP/$1/built.tree" -a -s "$T_TMP/$2/built.tree" -a \
        "$(sha256sum < "$T_TMP/$1/built.tree")" != "$(sha256sum < "$T_TMP/$2/built.tree")"
}

# The example config (its input and output are overridden).
same quickstart "$REPO_DIR/examples/quickstart/config.yaml"

# ALIC testdata configs that need no payload file missing from the testdata
# and run on a Debian image.
if [[ -d "$DATA" ]]; then
    for c in add-user-files.yaml extracommandline-config.yaml modules-config.yaml user-group-new.yaml \
        services-config.yaml; do
        if [[ -f "$DATA/$c" ]]; then
            expected=$((expected + 1))
            same "alic-${c%.yaml}" "$DATA/$c"
        else
            t_fail "testdata config $c missing"
        fi
    done
    # Every valid testdata config translates (or fails as build does, on a key
    # not supported yet) into a recipe that loads and passes the contract check.
    translated=0 refused=0
    while IFS=$'\t' read -r f outcome _; do
        [[ $outcome == valid || $outcome == runtime-failure ]] || continue
        if out=$(cd "$DATA" && "$IMGRECIPE" translate "$f" -o "$T_TMP/x.lua" 2>&1); then
            if "$IMGRECIPE" run "$T_TMP/x.lua" --help > /dev/null 2>&1; then
                translated=$((translated + 1))
            else
                t_fail "$f: the translation does not load"
            fi
        elif [[ $out == *"not supported yet"* ]]; then
            refused=$((refused + 1))
        else
            t_fail "$f: translate failed: $out"
        fi
    done < "$SHARED/compat/alic-testdata-expectations.tsv"
    echo "$translated testdata configs translated, $refused refused as not supported yet"
    check "most testdata configs translate" test "$translated" -ge 100
else
    echo "ALIC testdata not found at $DATA: only the example config compared"
fi

[[ -d "$DATA" ]] && differ quickstart alic-add-user-files
check_eq "every config was compared" "$expected" "$compared"
check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
t_done
