#!/usr/bin/env bash
# `imgrecipe validate` / `validate-config`: exit codes (0 valid, 1 invalid,
# 2 usage), baseConfigs, legacy-schema warnings, --validate-resources. No root.
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
t_done
