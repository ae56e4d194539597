#!/usr/bin/env bash
# Raw output: the working copy is the output's own temporary file in the
# output directory (one full copy, not two). Checks that it really is, that
# the result has the same content a qcow2 build gives, that the output appears
# atomically with the usual mode, and that a failure or SIGINT leaves no
# temporary file, no loop device and no mount, an older output untouched and
# the input unchanged.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env tiny

in=$T_TMP/input.raw
cp --sparse=always "$IMG_PATH" "$in"
in_sum=$(sha256sum "$in" | cut -d' ' -f1)
outdir=$T_TMP/out
mkdir -p "$outdir"

cat > "$T_TMP/config.yaml" <<'YAML'
os:
  hostname: raw-output
  additionalFiles:
    - {content: "esp data", destination: /boot/efi/data.txt}
    - {content: "root data", destination: /etc/raw-output.txt}
YAML

build() {  # build CONFIG OUT FORMAT [extra args]
    local cfg=$1 out=$2 fmt=$3; shift 3
    "$IMGRECIPE" build "$cfg" --image-file "$in" --output-image-file "$out" --output-image-format "$fmt" \
        --build-dir "$T_TMP/build" "$@"
}
temps() { find "$outdir" -maxdepth 1 -name '.*.tmp-*' | wc -l; }

# 1. Same content as a qcow2 build of the same config.
(umask 022 && build "$T_TMP/config.yaml" "$outdir/out.raw" raw 2> "$T_TMP/raw.log") || { cat "$T_TMP/raw.log"; t_fail "raw build"; }
build "$T_TMP/config.yaml" "$T_TMP/out.qcow2" qcow2 2> "$T_TMP/qcow2.log" || { cat "$T_TMP/qcow2.log"; t_fail "qcow2 build"; }
check_contains "working copy made as the output's temporary file" "$(cat "$T_TMP/raw.log")" \
    "raw working copy $outdir/.out.raw.tmp-"
check_contains "saved by renaming it" "$(cat "$T_TMP/raw.log")" "as raw (the working copy itself)"
check_eq "input unchanged" "$in_sum" "$(sha256sum "$in" | cut -d' ' -f1)"
check_eq "no temporary file left" 0 "$(temps)"
check_eq "output mode follows the umask" 644 "$(stat -c %a "$outdir/out.raw")"
check_eq "disk size kept" "$IMG_SIZE" "$(stat -c %s "$outdir/out.raw")"
check "output sparse" test "$(du -k "$outdir/out.raw" | cut -f1)" -lt $((IMG_SIZE / 1024))
check "root fs clean" e2fsck -fn "$outdir/out.raw?offset=$ROOT_OFFSET" >/dev/null 2>&1

qemu-img convert -O raw "$T_TMP/out.qcow2" "$T_TMP/from-qcow2.raw"
table() { sfdisk -J "$1" | grep -v -e '"device"' -e '"node"'; }
check_eq "same partition table as the qcow2 build" "$(table "$T_TMP/from-qcow2.raw")" "$(table "$outdir/out.raw")"
# File trees of both filesystems; the release file and history carry a
# random image id and times, so they are left out.
tree_of() {  # tree_of RAW DIR
    mkdir -p "$2/root" "$2/esp"
    debugfs -R "rdump / $2/root" "$1?offset=$ROOT_OFFSET" >/dev/null 2>&1
    MTOOLS_SKIP_CHECK=1 mcopy -s -m -i "$1@@$ESP_OFFSET" :: "$2/esp/"
    rm -f "$2/root/etc/image-customizer-release" "$2/root/usr/share/image-customizer/history.json"
}
tree_of "$outdir/out.raw" "$T_TMP/tree-raw"
tree_of "$T_TMP/from-qcow2.raw" "$T_TMP/tree-qcow2"
check "same files as the qcow2 build" diff -r --no-dereference "$T_TMP/tree-qcow2" "$T_TMP/tree-raw"
check_eq "hostname" "raw-output" "$(fs_cat "$outdir/out.raw" "$ROOT_OFFSET" /etc/hostname)"
check_eq "ESP file" "esp data" "$(fat_cat "$outdir/out.raw" "$ESP_OFFSET" /data.txt)"
rm -rf "$T_TMP/tree-raw" "$T_TMP/tree-qcow2" "$T_TMP/from-qcow2.raw" "$T_TMP/out.qcow2"

# 2. A failing step: the previous output stays as it was, nothing else is left.
old_sum=$(sha256sum "$outdir/out.raw" | cut -d' ' -f1)
cat > "$T_TMP/fail.yaml" <<'YAML'
os:
  hostname: must-not-appear
scripts:
  postCustomization:
    - content: "exit 3"
YAML
set +e
build "$T_TMP/fail.yaml" "$outdir/out.raw" raw > "$T_TMP/fail.log" 2>&1
rc=$?
set -e
check "failing build fails" test "$rc" -ne 0
check_eq "failure: previous output untouched" "$old_sum" "$(sha256sum "$outdir/out.raw" | cut -d' ' -f1)"
check_eq "failure: no temporary file left" 0 "$(temps)"
check_eq "failure: no loop device left" 0 "$(all_loops)"
check_eq "failure: no mount left" 0 "$(mounts_under "$T_TMP")"
check_eq "failure: input unchanged" "$in_sum" "$(sha256sum "$in" | cut -d' ' -f1)"
# Output directories made for the temporary file go too.
build "$T_TMP/fail.yaml" "$outdir/new/sub/out.raw" raw > "$T_TMP/fail2.log" 2>&1 || true
check_eq "failure: no output directory left" "" "$(ls -d "$outdir/new" 2>/dev/null || true)"

# 3. SIGINT while the image is being customized: the temporary file is the
# working copy (in the output directory, none in the build directory), and it
# goes away with the run.
sleeper="sleep 300 0.$$$RANDOM"
cat > "$T_TMP/sleep.yaml" <<YAML
scripts:
  postCustomization:
    - content: |
        echo SLEEPING-NOW
        $sleeper
YAML
# Started directly: a background function would be a subshell ignoring SIGINT.
"$IMGRECIPE" build "$T_TMP/sleep.yaml" --image-file "$in" --output-image-file "$outdir/new.raw" \
    --output-image-format raw --build-dir "$T_TMP/build" > "$T_TMP/sleep.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
    grep -q SLEEPING-NOW "$T_TMP/sleep.log" && break
    sleep 0.1
done
check "signal: reached the chroot step" grep -q SLEEPING-NOW "$T_TMP/sleep.log"
check_eq "during the build: one temporary file in the output directory" 1 "$(temps)"
check_eq "during the build: readable by root only" 600 \
    "$(find "$outdir" -maxdepth 1 -name '.*.tmp-*' -printf '%m\n' 2>/dev/null | head -1)"
check_eq "during the build: no working copy in the build directory" 0 \
    "$(find "$T_TMP/build" -name image.raw 2>/dev/null | wc -l)"
kill -INT "$pid"
set +e
wait "$pid"
rc=$?
set -e
check_eq "signal: exit code 130" 130 "$rc"
check_eq "signal: no output" "" "$(ls "$outdir/new.raw" 2>/dev/null || true)"
check_eq "signal: no temporary file left" 0 "$(temps)"
check_eq "signal: no loop device left" 0 "$(all_loops)"
check_eq "signal: no mount left" 0 "$(mounts_under "$T_TMP")"
check_eq "signal: input unchanged" "$in_sum" "$(sha256sum "$in" | cut -d' ' -f1)"
# 4. Lua API: a raw save to the output named at open renames the working copy;
# a later save reads that output without writing it; after a `last` save the
# image refuses further use.
cat > "$T_TMP/recipe.lua" <<'LUA'
return {
  name = "raw-output", api = 1,
  params = { input = { required = true }, output = { required = true }, second = { required = true } },
  run = function(ctx)
    local p = ctx.params
    local img = ctx:open(p.input, { output = p.output, output_format = "raw" })
    img:mount()
    img:set_hostname("lua-raw")
    img:save(p.output, "raw")
    local ok, err = pcall(img.mount, img)
    assert(not ok and tostring(err):find("cannot be mounted again"), "mount after commit: " .. tostring(err))
    img:save(p.second, "qcow2", { last = true })
    ok, err = pcall(img.save, img, p.second, "qcow2")
    assert(not ok and tostring(err):find("last time"), "save after last: " .. tostring(err))
  end,
}
LUA
if "$IMGRECIPE" run "$T_TMP/recipe.lua" --build-dir "$T_TMP/build" --param input="$in" \
    --param output="$outdir/lua.raw" --param second="$T_TMP/lua.qcow2" 2> "$T_TMP/lua.log"; then
    t_pass "lua: recipe ran"
    check_eq "lua: raw output hostname" "lua-raw" "$(fs_cat "$outdir/lua.raw" "$ROOT_OFFSET" /etc/hostname)"
    qemu-img convert -O raw "$T_TMP/lua.qcow2" "$T_TMP/lua-back.raw"
    check "lua: second save has the same content" cmp -s "$outdir/lua.raw" "$T_TMP/lua-back.raw"
    check_eq "lua: no temporary file left" 0 "$(temps)"
else
    cat "$T_TMP/lua.log"
    t_fail "lua: recipe ran"
fi
check_eq "lua: input unchanged" "$in_sum" "$(sha256sum "$in" | cut -d' ' -f1)"
t_done
