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
cleanup_mnt() { mountpoint -q "$mnt" 2>/dev/null && umount "$mnt" || true; }
trap 'cleanup_mnt; t_cleanup' EXIT

# tree IMG OUT: a manifest of every partition's files, one line per entry.
tree() {
    local img=$1 out=$2 n=0 start size type dir
    : > "$out"
    sfdisk -J "$img" | grep -v -e '"device"' -e '"node"' -e '"id"' >> "$out"
    while read -r start size; do
        n=$((n + 1))
        dir=$T_TMP/part-$n
        rm -rf "$dir" && mkdir -p "$dir"
        type=$(blkid --probe --offset $((start * 512)) --size $((size * 512)) -s TYPE -o value "$img" 2>/dev/null || true)
        case "$type" in
        ext2 | ext3 | ext4) debugfs -R "rdump / $dir" "$img?offset=$((start * 512))" > /dev/null 2>&1 ;;
        vfat) MTOOLS_SKIP_CHECK=1 mcopy -s -p -n -i "$img@@$((start * 512))" '::*' "$dir" 2> /dev/null || true ;;
        "") echo "partition $n: no filesystem" >> "$out"; continue ;;
        *)
            mkdir -p "$mnt"
            mount -o ro,loop,offset=$((start * 512)),sizelimit=$((size * 512)) "$img" "$mnt"
            cp -a "$mnt/." "$dir/"
            cleanup_mnt
            ;;
        esac
        echo "partition $n: $type" >> "$out"
        (cd "$dir" && find . -mindepth 1 \( -path ./lost+found -prune \) -o -printf '%p %y %m %U:%G\n' | sort) >> "$out"
        (cd "$dir" && find . -type f -print0 | sort -z | while IFS= read -r -d '' f; do
            case "$f" in
            ./etc/image-customizer-release | ./usr/share/image-customizer/*history* | ./etc/imgrecipe/built-at)
                echo "$f (content not compared: build id, time)" ;;
            ./etc/shadow | ./etc/shadow-)
                echo "$f $(cut -d: -f1,4- "$f" | sha256sum | cut -c1-16) (password hashes removed)" ;;
            *) echo "$f $(sha256sum < "$f" | cut -c1-16)" ;;
            esac
        done) >> "$out"
        (cd "$dir" && find . -type l -printf '%p -> %l\n' | sort) >> "$out"
        rm -rf "$dir"
    done < <(sfdisk -J "$img" | python3 -c 'import json,sys
for p in json.load(sys.stdin)["partitiontable"]["partitions"]: print(p["start"], p["size"])')
}

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
    if diff -u "$d/built.tree" "$d/run.tree" > "$d/diff"; then
        t_pass "$name: same partition table and file trees"
    else
        head -40 "$d/diff"
        t_fail "$name: same partition table and file trees"
    fi
    rm -f "$d/built.raw" "$d/run.raw"
}

# The example config (its input and output are overridden).
same quickstart "$REPO_DIR/examples/quickstart/config.yaml"

# ALIC testdata configs that need no payload file missing from the testdata
# and run on a Debian image.
if [[ -d "$DATA" ]]; then
    for c in add-user-files.yaml extracommandline-config.yaml modules-config.yaml user-group-new.yaml; do
        if [[ -f "$DATA/$c" ]]; then
            same "alic-${c%.yaml}" "$DATA/$c"
        else
            t_fail "testdata config $c missing"
        fi
    done
else
    echo "ALIC testdata not found at $DATA: only the example config compared"
fi

check_eq "no loop device left" 0 "$(all_loops)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
t_done
