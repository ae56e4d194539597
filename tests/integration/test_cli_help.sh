#!/usr/bin/env bash
# Every subcommand has its own --help; `run RECIPE --help` lists the
# recipe's description and parameters (required, defaults, lists); a
# successful convert ends with the one-line summary (path, format, size, time).
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env tiny

for c in build run validate test convert translate; do
    set +e
    out=$("$IMGRECIPE" "$c" --help 2>&1)
    rc=$?
    set -e
    check_eq "$c --help exits 0" 0 "$rc"
    check_contains "$c --help: its own usage" "$out" "imgrecipe $c — "
done
check_contains "customize --help is build's" "$("$IMGRECIPE" customize --help)" "imgrecipe build — "
check_contains "--help alone: the command list" "$("$IMGRECIPE" --help)" "imgrecipe translate CONFIG.yaml"

cat > "$T_TMP/r.lua" <<'LUA'
return {
  name = "demo",
  description = "Sets the hostname of an image",
  params = {
    input = { required = true, description = "the input image" },
    hostname = { default = "demo-host", description = "the new hostname" },
    pkg = { list = true, description = "packages to add" },
  },
  run = function(ctx) error("--help must not run the recipe") end,
}
LUA
set +e
out=$("$IMGRECIPE" run "$T_TMP/r.lua" --help 2>&1)
rc=$?
set -e
check_eq "run RECIPE --help exits 0" 0 "$rc"
check_contains "run RECIPE --help: run's usage" "$out" "imgrecipe run — "
check_contains "run RECIPE --help: description" "$out" "Sets the hostname of an image"
check_contains "run RECIPE --help: required" "$out" "$(printf '  %-28s %s\n  %-28s (required)' input 'the input image' '')"
check_contains "run RECIPE --help: default" "$out" "(default: demo-host)"
check_contains "run RECIPE --help: list" "$out" "a list: repeat --param pkg=VALUE"
check_not_contains "run RECIPE --help: nothing run" "$out" "must not run"
check_contains "run builtin:yaml --help" "$("$IMGRECIPE" run builtin:yaml --help)" "path of the YAML config"

# The summary line of a successful convert.
set +e
"$IMGRECIPE" convert --image-file "$IMG_PATH" --output-image-file "$T_TMP/out.qcow2" --output-image-format qcow2 \
    --build-dir "$T_TMP/b" 2> "$T_TMP/convert.log"
rc=$?
set -e
check_eq "convert succeeds" 0 "$rc"
size=$(stat -c %s "$T_TMP/out.qcow2")
last=$(tail -1 "$T_TMP/convert.log")
check_contains "convert: summary names output and format" "$last" "done: $T_TMP/out.qcow2 (qcow2, "
check "convert: summary has size and time" grep -Eq '\(qcow2, [0-9.]+ (B|KiB|MiB|GiB)\) in [0-9]+\.[0-9] s$' <<<"$last"
check "output has a size" test "$size" -gt 0
t_done
