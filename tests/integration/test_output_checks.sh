#!/usr/bin/env bash
# The output path is checked before the build starts: an output that is the
# input (same path, a symlink, a `..` spelling, a hard link) is refused and
# the input stays byte-identical; an unknown format, an unwritable or
# uncreatable directory, or a directory as output fail within seconds,
# before the input is converted. A Lua recipe's save() refuses the input too.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env tiny
loops0=$(all_loops)

# A private copy: the cached image is read-only and shared.
in=$T_TMP/in/input.raw
mkdir -p "$T_TMP/in/sub"
cp --sparse=always "$IMG_PATH" "$in"
chmod 0644 "$in"
before=$(sha256sum "$in" | cut -d' ' -f1)
ln -s input.raw "$T_TMP/in/link.raw"
ln "$in" "$T_TMP/in/hard.raw"
printf 'os: {hostname: checked}\n' > "$T_TMP/config.yaml"

# refused NAME OUTPUT FORMAT EXPECTED [RUNNER...]: the build fails fast, with
# the message, before any conversion, leaving nothing behind.
refused() {
    local name=$1 out=$2 format=$3 msg=$4; shift 4
    local start rc log
    start=$(date +%s%N)
    set +e
    log=$("$@" "$IMGRECIPE" build "$T_TMP/config.yaml" --image-file "$in" --output-image-file "$out" \
        --output-image-format "$format" --build-dir "$T_TMP/build" 2>&1)
    rc=$?
    set -e
    check "$name: refused" test "$rc" -ne 0
    check_contains "$name: message" "$log" "$msg"
    check_not_contains "$name: nothing converted" "$log" "converting"
    check "$name: failed within 2 s" test $(( ($(date +%s%N) - start) / 1000000 )) -lt 2000
    check_eq "$name: input byte-identical" "$before" "$(sha256sum "$in" | cut -d' ' -f1)"
    check_eq "$name: no loop device left" "$loops0" "$(all_loops)"
}

refused same-path "$in" raw "it is the input image"
refused symlink "$T_TMP/in/link.raw" qcow2 "it is the input image"
refused dotdot "$T_TMP/in/sub/../input.raw" raw "it is the input image"
refused missing-dotdot "$T_TMP/in/nonexistent/../input.raw" raw "it is the input image"
refused hard-link "$T_TMP/in/hard.raw" vhdx "it is the input image"
refused relative "input.raw" raw "it is the input image" env -C "$T_TMP/in"
check "symlink still points at the input" test "$(readlink "$T_TMP/in/link.raw")" = input.raw

refused unknown-format "$T_TMP/out/o.img" vmdk "unknown output format 'vmdk'"
refused output-is-dir "$T_TMP/in" raw "it is a directory"
touch "$T_TMP/plainfile"
refused parent-is-file "$T_TMP/plainfile/o.raw" raw "is not a directory"
refused under-file "$T_TMP/plainfile/a/b/o.raw" raw "is not a directory"
# Root ignores permission bits: a read-only bind mount, in a mount namespace
# of its own so nothing is left on the host.
mkdir -p "$T_TMP/ro"
refused read-only-dir "$T_TMP/ro/o.raw" raw "its directory $T_TMP/ro is not writable" \
    unshare -m sh -c 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"' "$T_TMP/ro"
refused read-only-ancestor "$T_TMP/ro/new/dir/o.raw" raw "cannot be created: $T_TMP/ro is not writable" \
    unshare -m sh -c 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"' "$T_TMP/ro"
check_eq "no write-check file left" "" "$(find "$T_TMP/ro" "$T_TMP/in/sub" -mindepth 1)"
check "no output directory created" test ! -e "$T_TMP/out"

# A Lua recipe: save() refuses the input even when the recipe did not check early.
cat > "$T_TMP/save-over-input.lua" <<'LUA'
return {
  name = "save-over-input",
  params = { input = { required = true } },
  run = function(ctx)
    local img = ctx:open(ctx.params.input)
    img:mount()
    img:set_hostname("overwritten")
    img:save(ctx.params.input, "raw")
  end,
}
LUA
set +e
log=$("$IMGRECIPE" run "$T_TMP/save-over-input.lua" --build-dir "$T_TMP/build" --param input="$T_TMP/in/link.raw" 2>&1)
rc=$?
set -e
check "lua save over the input: refused" test "$rc" -ne 0
check_contains "lua save over the input: message" "$log" "it is the input image"
check_eq "lua save over the input: input byte-identical" "$before" "$(sha256sum "$in" | cut -d' ' -f1)"

# The checks let a normal build through, creating missing directories.
"$IMGRECIPE" build "$T_TMP/config.yaml" --image-file "$in" --output-image-file "$T_TMP/out/new/o.qcow2" \
    --output-image-format qcow2 --build-dir "$T_TMP/build" 2> "$T_TMP/ok.log" || cat "$T_TMP/ok.log"
check "build into a new directory works" test -f "$T_TMP/out/new/o.qcow2"
check_eq "input still byte-identical" "$before" "$(sha256sum "$in" | cut -d' ' -f1)"
check_eq "no mount left" 0 "$(mounts_under "$T_TMP")"
t_done
