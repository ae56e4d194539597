#!/usr/bin/env bash
# Every config example in docs/ (```yaml blocks; a block whose first line is
# "# fragment" is not a whole config) and every examples/**/*.yaml passes
# `imgrecipe validate`. Needs no root.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

n=0
for doc in "$REPO_DIR"/docs/*.md "$REPO_DIR"/README.md; do
    [[ -f "$doc" ]] || continue
    # Writes block K of DOC to $T_TMP/<doc>-K.yaml.
    awk -v out="$T_TMP/$(basename "$doc" .md)" '
        /^```yaml[[:space:]]*$/ { inblock = 1; k++; file = out "-" k ".yaml"; printf "" > file; next }
        /^```/ && inblock { inblock = 0; close(file); next }
        inblock { print >> file }
    ' "$doc"
done
for f in "$T_TMP"/*.yaml; do
    [[ -e "$f" ]] || continue
    [[ "$(head -1 "$f")" == "# fragment"* ]] && continue
    # Base configs an example names are stood in for by empty configs.
    if grep -q '^baseConfigs:' "$f"; then
        sed -n 's/^ *- path: *\(.*\.yaml\) *$/\1/p' "$f" | while read -r base; do
            mkdir -p "$(dirname "$T_TMP/$base")"
            [[ -e "$T_TMP/$base" ]] || echo '{}' > "$T_TMP/$base"
        done
    fi
    n=$((n + 1))
    set +e
    out=$("$IMGRECIPE" validate "$f" 2>&1)
    rc=$?
    set -e
    check_eq "docs example $(basename "$f") is valid: $out" 0 "$rc"
done
check "docs have config examples ($n)" test "$n" -ge 5

n=0
while IFS= read -r f; do
    # Package-list files (`packages: [...]`) are read through os.packages.*Lists.
    if grep -qm1 '^packages:' "$f"; then continue; fi
    n=$((n + 1))
    set +e
    out=$("$IMGRECIPE" validate --validate-resources files "$f" 2>&1)
    rc=$?
    set -e
    check_eq "example ${f#"$REPO_DIR"/} is valid: $out" 0 "$rc"
done < <(find "$REPO_DIR/examples" -name '*.yaml' | sort)
check "examples have configs ($n)" test "$n" -ge 1
t_done
