#!/usr/bin/env bash
# The command line: ALIC's flag spelling, --keep-build-dir, config errors
# with positions, unsupported keys, read-only inspection from a recipe.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env tiny

check_contains "--version" "$("$IMGRECIPE" --version)" "imgrecipe "
check_contains "--help lists build" "$("$IMGRECIPE" --help)" "imgrecipe build CONFIG.yaml"
check_contains "--help lists inject-files" "$("$IMGRECIPE" --help)" "imgrecipe inject-files --config-file"
check_contains "inject-files --help" "$("$IMGRECIPE" inject-files --help)" "--output-image-file F         the output file (required"

# ALIC spelling: no subcommand, --config-file and friends; CLI wins over the config.
cat > "$T_TMP/alic.yaml" <<YAML
input: {image: {path: /nonexistent/overridden.vhdx}}
os: {hostname: alic-style}
output: {image: {path: /nonexistent/overridden.raw, format: qcow2}}
YAML
"$IMGRECIPE" --config-file "$T_TMP/alic.yaml" --image-file "$IMG_PATH" --output-image-file "$T_TMP/alic.vhd" \
    --output-image-format vhd --build-dir "$T_TMP/b" --log-level debug 2> "$T_TMP/alic.log" \
    || { tail -20 "$T_TMP/alic.log"; t_fail "ALIC spelling build"; }
check "ALIC spelling writes the CLI output path" test -f "$T_TMP/alic.vhd"
check_eq "CLI format wins" "conectix" "$(head -c 8 "$T_TMP/alic.vhd")"
check_contains "debug log shows commands" "$(cat "$T_TMP/alic.log")" "running qemu-img"

# --keep-build-dir keeps the working copy, and nothing stays mounted. (A raw
# output's working copy is the output itself, so a qcow2 output here.)
"$IMGRECIPE" build "$T_TMP/alic.yaml" --image-file "$IMG_PATH" --output-image-file "$T_TMP/k.qcow2" \
    --output-image-format qcow2 --build-dir "$T_TMP/keep" --keep-build-dir 2>/dev/null
check "kept run directory has the working copy" test -f "$(echo "$T_TMP"/keep/run-*/image-1/image.raw)"
check_eq "kept build dir has no mounts" 0 "$(mounts_under "$T_TMP/keep")"

# Config errors name file:line:column and suggest the right key.
cat > "$T_TMP/typo.yaml" <<YAML
os:
  hostnme: x
output: {image: {path: o.raw, format: raw}}
YAML
set +e
msg=$("$IMGRECIPE" build "$T_TMP/typo.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b" 2>&1)
rc=$?
set -e
check "typo fails" test "$rc" -ne 0
check_contains "typo: position and suggestion" "$msg" "typo.yaml:2:3: os.hostnme: unknown key (did you mean 'hostname'?)"
set +e
vmsg=$("$IMGRECIPE" validate "$T_TMP/typo.yaml" 2>&1)
set -e
check_contains "validate reports the same" "$vmsg" "os.hostnme: unknown key"

# Known ALIC keys that are not implemented yet fail clearly, before any work.
cat > "$T_TMP/unsupported.yaml" <<YAML
previewFeatures: [output-selinux-policy]
os:
  hostname: x
output:
  image: {path: $T_TMP/unsupported.raw, format: raw}
  selinuxPolicyPath: $T_TMP/policy
YAML
set +e
msg=$("$IMGRECIPE" build "$T_TMP/unsupported.yaml" --image-file "$IMG_PATH" --build-dir "$T_TMP/b" 2>&1)
rc=$?
set -e
check "unsupported key fails" test "$rc" -ne 0
check_contains "unsupported key named with position" "$msg" "unsupported.yaml:6:3: not supported yet: output.selinuxPolicyPath"
check "no output for unsupported config" test ! -e "$T_TMP/unsupported.raw"
check_contains "validate notes unsupported keys" "$("$IMGRECIPE" validate "$T_TMP/unsupported.yaml")" "output.selinuxPolicyPath is valid but not supported by imgrecipe yet"

# Read-only inspection from a Lua recipe: FAT staged, writes refused.
"$IMGRECIPE" run "$TESTS_DIR/integration/recipes/inspect.lua" --build-dir "$T_TMP/b" \
    --param input="$IMG_PATH" --param report="$T_TMP/report" 2> "$T_TMP/inspect.log" || { tail "$T_TMP/inspect.log"; t_fail "inspect"; }
report=$(cat "$T_TMP/report" 2>/dev/null || true)
check_contains "root listed" "$report" "/ ext4 p2"
check_contains "ESP listed as staged" "$report" "/boot/efi vfat p1 staged=true"
check_contains "hostname read" "$report" "hostname=tiny"
check_contains "ESP readable" "$report" "esp-grub=true"
check_contains "writes refused read-only" "$report" "write-ok=false"
check_contains "read-only error message" "$report" "Read-only file system"

# Not root: a clear message, no attempt.
if id nobody >/dev/null 2>&1; then
    set +e
    msg=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$IMGRECIPE" build "$T_TMP/alic.yaml" 2>&1)
    set -e
    check_contains "non-root refused" "$msg" "must run as root"
fi
# ALIC's other flags: accepted where they have nothing to do here, refused
# clearly where the feature is missing; --timestamp-file times each step.
"$IMGRECIPE" --config-file "$T_TMP/alic.yaml" --image-file "$IMG_PATH" --output-image-file "$T_TMP/flags.raw" \
    --output-image-format raw --build-dir "$T_TMP/b" --log-color never --disable-telemetry \
    --setfiles-context system_u:system_r:setfiles_mac_t:s0 --timestamp-file "$T_TMP/times.json" > /dev/null 2>&1
check "ALIC flags accepted" test -s "$T_TMP/flags.raw"
check_eq "timestamp file lists the steps" "open write output" \
    "$(jq -r '[.[].step] | [first, last] | join(" ")' "$T_TMP/times.json")"
check "timestamp file: durations are numbers" jq -e 'all(.[]; (.seconds | type) == "number")' "$T_TMP/times.json"
set +e
msg=$("$IMGRECIPE" --config-file "$T_TMP/alic.yaml" --tools-dir /tmp --build-dir "$T_TMP/b" 2>&1)
rc=$?
set -e
check_eq "--tools-dir refused (unsupported)" 1 "$rc"
check_contains "--tools-dir named" "$msg" "--tools-dir is not supported by imgrecipe yet"
msg=$("$IMGRECIPE" --config-file "$T_TMP/alic.yaml" --log-color pink 2>&1 || true)
check_contains "--log-color checked" "$msg" "--log-color pink: expected always, auto or never"
t_done
