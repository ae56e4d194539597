#!/usr/bin/env bash
# `imgrecipe validate` on hostile configs (no root needed): YAML alias and
# merge-key bombs fail at once in little memory, deep nesting and NUL bytes
# are named with their position, /dev/zero, FIFOs and oversized files are
# refused without reading them (as configs and as package lists). A user
# named ../../root is refused by `build` before anything is built.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

# run ARGS... -> out, rc, ms; 1 GB of address space at most, 10 s at most.
run() {
    local start end
    start=$(date +%s%N)
    set +e
    out=$(ulimit -v 1000000; timeout 10 "$IMGRECIPE" "$@" 2>&1)
    rc=$?
    set -e
    end=$(date +%s%N)
    ms=$(( (end - start) / 1000000 ))
}
fast() { test "$ms" -lt 1000; }

cd "$T_TMP"

# 342 bytes: nine levels of nine aliases, 9^9 strings once expanded.
{
    echo 'a: &a ["x","x","x","x","x","x","x","x","x"]'
    prev=a
    for n in b c d e f g h i; do
        echo "$n: &$n [*$prev,*$prev,*$prev,*$prev,*$prev,*$prev,*$prev,*$prev,*$prev]"
        prev=$n
    done
} > laughs.yaml
run validate laughs.yaml
check_eq "alias bomb: invalid" 1 "$rc"
check_contains "alias bomb: named with its position" "$out" \
    "laughs.yaml:5:4: too many alias expansions (a YAML alias bomb?)"
check "alias bomb: within a second (${ms} ms)" fast

# Merge keys that triple the map at every level.
{
    echo 'a: &a {k0: 1, k1: 2, k2: 3, k3: 4, k4: 5, k5: 6, k6: 7, k7: 8}'
    prev=a
    for i in $(seq 0 19); do
        refs="[*$prev, *$prev, *$prev]"
        echo "m$i: &m$i {<<: $refs, z: {<<: $refs}, y: {<<: $refs}}"
        prev=m$i
    done
} > merge.yaml
run validate merge.yaml
check_eq "merge-key bomb: invalid" 1 "$rc"
check_contains "merge-key bomb: named" "$out" "too many alias expansions (a YAML alias bomb?)"
check "merge-key bomb: within a second (${ms} ms)" fast

python3 -c "import sys; sys.stdout.write('os: ' + '[' * 100000 + ']' * 100000 + '\n')" > deep.yaml
run validate deep.yaml
check_eq "deep nesting: invalid" 1 "$rc"
check_contains "deep nesting: position" "$out" "deep.yaml:1:68: nested more than 64 levels deep"

printf 'os:\n  hostname: "a\0b"\n' > nul.yaml
run validate nul.yaml
check_contains "NUL byte named" "$out" "nul.yaml:2:15: NUL byte at 2:15"

head -c 5000000 /dev/zero | tr '\0' '#' > big.yaml
run validate big.yaml
check_eq "5 MB config: invalid" 1 "$rc"
check_contains "5 MB config: limit named" "$out" "big.yaml is larger than the limit of 4 MiB"

mkfifo fifo.yaml
run validate fifo.yaml
check_eq "FIFO config: invalid, no hang" 1 "$rc"
check_contains "FIFO config: named" "$out" "fifo.yaml is not a regular file (a FIFO)"
check "FIFO config: at once (${ms} ms)" fast

run validate /dev/zero
check_eq "/dev/zero config: invalid" 1 "$rc"
check_contains "/dev/zero config: named" "$out" "/dev/zero is not a regular file (a character device)"
check "/dev/zero config: at once (${ms} ms)" fast

printf 'os:\n  packages:\n    installLists: [/dev/zero, fifo.yaml, big.yaml]\n' > lists.yaml
run validate lists.yaml --validate-resources files
check_eq "package lists: invalid" 1 "$rc"
check_contains "package list /dev/zero refused" "$out" "os.packages.installLists[0]: '/dev/zero' is not a regular file"
check_contains "package list FIFO refused" "$out" "os.packages.installLists[1]: 'fifo.yaml' is not a regular file"
check_contains "package list size limit" "$out" "big.yaml is larger than the limit of 4 MiB"
check "package lists: at once (${ms} ms)" fast

printf 'previewFeatures: [base-configs]\nbaseConfigs: [{path: fifo.yaml}, {path: /dev/zero}]\n' > bases.yaml
run validate bases.yaml
check_eq "FIFO and /dev/zero base configs: invalid" 1 "$rc"
check_contains "FIFO base config named" "$out" "bases.yaml:2:22: baseConfigs[0].path: base config 'fifo.yaml' is not a regular file"
check_contains "/dev/zero base config named" "$out" "baseConfigs[1].path: base config '/dev/zero' is not a regular file"
check "base configs: at once (${ms} ms)" fast

cat > files.yaml <<'YAML'
os:
  additionalFiles: [{source: fifo.yaml, destination: /a}]
  users: [{name: u, sshPublicKeyPaths: [/dev/zero], password: {type: plain-text-file, value: fifo.yaml}}]
YAML
run validate files.yaml --validate-resources files
check_eq "FIFO and device resources: invalid" 1 "$rc"
check_contains "additionalFiles FIFO source" "$out" "os.additionalFiles[0].source: 'fifo.yaml' is not a regular file"
check_contains "SSH key file /dev/zero" "$out" "os.users[0].sshPublicKeyPaths[0]: '/dev/zero' is not a regular file"
check_contains "password file FIFO" "$out" "os.users[0].password.value: 'fifo.yaml' is not a regular file"
check "resources: at once (${ms} ms)" fast

# Names: refused by validate, and by build before any image work.
cat > names.yaml <<'YAML'
os:
  users:
  - name: ../../root
    sshPublicKeys: [ssh-ed25519 AAAA evil]
  kernelCommandLine:
    extraCommandLine: ["quiet\n}\nmenuentry evil {"]
scripts:
  postCustomization:
  - content: env
    environmentVariables: {"A=B": x}
YAML
run validate names.yaml
check_eq "bad names: invalid" 1 "$rc"
check_contains "user name refused" "$out" \
    "names.yaml:3:11: os.users[0].name: invalid user name '../../root': must not contain '/'"
check_contains "kernel argument refused" "$out" \
    "names.yaml:6:24: os.kernelCommandLine.extraCommandLine[0]: invalid kernel argument 'quiet\\n}\\nmenuentry evil {': must not contain a newline"
check_contains "environment name refused" "$out" \
    "names.yaml:10:28: scripts.postCustomization[0].environmentVariables.A=B: invalid environment variable name 'A=B'"

if [[ $(id -u) -eq 0 ]]; then
    truncate -s 16M in.raw
    before=$(sha256sum in.raw)
    cat > build.yaml <<YAML
input: {image: {path: $T_TMP/in.raw}}
output: {image: {path: $T_TMP/out.raw, format: raw}}
os:
  users:
  - name: ../../root
    sshPublicKeys: [ssh-ed25519 AAAA evil]
YAML
    mkdir bd
    set +e
    out=$("$IMGRECIPE" build build.yaml --build-dir "$T_TMP/bd" 2>&1)
    rc=$?
    set -e
    check_eq "build with ../../root: fails" 1 "$rc"
    check_contains "build with ../../root: config error" "$out" "build.yaml:5:11: os.users[0].name: invalid user name '../../root'"
    check_not_contains "build with ../../root: no step ran" "$out" "step '"
    check "build with ../../root: no output" test ! -e out.raw
    check_eq "build with ../../root: nothing left in the build dir" "" "$(ls -A bd)"
    check_eq "build with ../../root: input unchanged" "$before" "$(sha256sum in.raw)"
    check_eq "build with ../../root: no loop device" 0 "$(all_loops)"
fi
t_done
