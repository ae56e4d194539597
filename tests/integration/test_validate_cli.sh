#!/usr/bin/env bash
# `imgrecipe validate` / `validate-config`: exit codes (0 valid, 1 invalid,
# 2 usage), baseConfigs, legacy-schema warnings, old forms of additionalFiles /
# extraCommandLine (warning with the replacement, strict errors), --validate-resources. No root.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

run() {  # run ARGS... -> sets out, rc
    set +e
    out=$("$IMGRECIPE" "$@" 2>&1)
    rc=$?
    set -e
}

mkdir -p "$T_TMP/c/files" "$T_TMP/c/lists"
echo hi > "$T_TMP/c/files/a.txt"
printf 'packages: [vim]\n' > "$T_TMP/c/lists/p.yaml"
cat > "$T_TMP/c/base.yaml" <<YAML
os:
  additionalFiles: [{source: files/a.txt, destination: /a}]
  packages: {installLists: [lists/p.yaml]}
YAML
cat > "$T_TMP/c/top.yaml" <<YAML
previewFeatures: [base-configs]
baseConfigs: [{path: base.yaml}]
os: {hostname: top}
YAML
cd "$T_TMP/c"

run validate top.yaml
check_eq "valid chain exits 0" 0 "$rc"
check_eq "valid chain output" "top.yaml: valid" "$out"
run validate-config --config-file top.yaml --validate-resources files
check_eq "ALIC spelling with files validation" "0 top.yaml: valid" "$rc $out"
run validate top.yaml --validate-resources files --validate-resources files,files
check_eq "repeatable, comma-separated" 0 "$rc"

rm files/a.txt
run validate top.yaml --validate-resources files
check_eq "missing source exits 1" 1 "$rc"
check_contains "missing source named in its base config" "$out" \
    "$T_TMP/c/base.yaml:2:30: os.additionalFiles[0].source: 'files/a.txt' does not exist"
run validate top.yaml
check_eq "without resource checks, still valid" 0 "$rc"

run validate top.yaml --validate-resources oci
check_eq "oci is a usage error" 2 "$rc"
check_contains "oci explained" "$out" "is not supported by imgrecipe; use --validate-resources files"
run validate top.yaml --validate-resources bogus
check_eq "unknown resource kind" 2 "$rc"
run validate
check_eq "no config is a usage error" 2 "$rc"

cat > cycle.yaml <<YAML
previewFeatures: [base-configs]
baseConfigs: [{path: cycle.yaml}]
YAML
run validate cycle.yaml
check_eq "cycle exits 1" 1 "$rc"
check_contains "cycle named" "$out" "cycle.yaml:2:22: baseConfigs[0].path: cycle detected in baseConfigs"

cat > legacy.yaml <<YAML
SystemConfig:
  Hostname: old
YAML
run validate legacy.yaml
check_eq "legacy config is valid" 0 "$rc"
check_contains "legacy warning" "$out" "warning: legacy.yaml:2:3: SystemConfig.Hostname is the legacy schema: write os.hostname"
check_contains "verdict after warnings" "$(tail -1 <<<"$out")" "legacy.yaml: valid"

# Old forms ALIC's ISO page still shows: accepted with a warning that shows
# today's form; source paths resolve relative to the config file.
mkdir -p old/cloud-init-data
echo seed > old/cloud-init-data/user-data
cat > old/iso.yaml <<'YAML'
iso:
  additionalFiles:
    cloud-init-data/user-data: /cloud-init-data/user-data
  kernelCommandLine:
    extraCommandLine: "rd.info 'console=ttyS0'"
YAML
run validate old/iso.yaml --validate-resources files
check_eq "old forms are valid" 0 "$rc"
check_contains "additionalFiles warning with the replacement" "$out" "warning: old/iso.yaml:2:3: iso.additionalFiles as a map is an old form: write
    additionalFiles:
    - source: cloud-init-data/user-data
      destination: /cloud-init-data/user-data"
check_contains "extraCommandLine warning with the replacement" "$out" "warning: old/iso.yaml:5:5: iso.kernelCommandLine.extraCommandLine as a single string is an old form: write
    extraCommandLine:
    - rd.info
    - console=ttyS0"
check_contains "verdict" "$out" "old/iso.yaml: valid"
rm old/cloud-init-data/user-data
run validate old/iso.yaml --validate-resources files
check_eq "missing map-form source exits 1" 1 "$rc"
check_contains "missing source at the map key" "$out" \
    "old/iso.yaml:3:5: iso.additionalFiles[0].source: 'cloud-init-data/user-data' does not exist"
cat > old/bad.yaml <<'YAML'
os:
  additionalFiles:
    a.txt: ""
    b.txt: {path: /b, permission: "644"}
  kernelCommandLine:
    extraCommandLine: "quiet 'x"
YAML
run validate old/bad.yaml
check_eq "bad old forms exit 1" 1 "$rc"
check_contains "empty destination" "$out" "old/bad.yaml:3:12: os.additionalFiles.a.txt: the destination path must not be empty"
check_contains "unknown key" "$out" \
    "old/bad.yaml:4:23: os.additionalFiles.b.txt.permission: unknown key (did you mean 'permissions'?)"
check_contains "unclosed quote" "$out" \
    "old/bad.yaml:6:23: os.kernelCommandLine.extraCommandLine: the old single-string form: missing closing single quote"
check_not_contains "no 'expected a list' after old-form problems" "$out" "expected a list"
t_done
