#!/usr/bin/env bash
# `imgrecipe schema`: a JSON Schema of the YAML config that an independent
# validator (Debian's python3-jsonschema, draft 2020-12) accepts as a schema,
# that accepts every valid example and ALIC corpus config, and that rejects
# the corpus's other schemas and broken variants (misspelled keys, wrong
# enums, wrong types) of the valid ones, which `imgrecipe validate` rejects
# too. Needs no root and no image.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

PY=/usr/bin/python3
if ! "$PY" -c 'import jsonschema, yaml' 2>/dev/null; then
    echo "skipped: python3-jsonschema / python3-yaml not installed (scripts/setup.sh)"
    exit 77
fi
CHECK="$PY $TESTS_DIR/integration/helpers/schema_check.py"
SCHEMA=$T_TMP/schema.json
"$IMGRECIPE" schema > "$SCHEMA"
check "schema is a valid draft 2020-12 JSON Schema" \
    $PY -c 'import json,sys,jsonschema; jsonschema.Draft202012Validator.check_schema(json.load(open(sys.argv[1])))' "$SCHEMA"
check "schema names the draft" grep -q '"\$schema": "https://json-schema.org/draft/2020-12/schema"' "$SCHEMA"
check "descriptions come from the schema table" grep -q '"description": "Host name of the image."' "$SCHEMA"
check "enums come from the schema table" grep -q '"enum": \["vhd", "vhd-fixed", "vhdx", "qcow2", "raw", "iso"' "$SCHEMA"
check "schema output is stable" cmp -s "$SCHEMA" <("$IMGRECIPE" schema)

examples=("$REPO_DIR"/examples/*/*.yaml)
out=$($CHECK "$SCHEMA" valid "${examples[@]}" 2>&1) && rc=0 || rc=$?
check_eq "every example config is valid against the schema (${#examples[@]})" "0" "$rc$(grep FAIL <<<"$out" | sed "s/^/ /" || true)"
check_eq "... and with imgrecipe validate" "0" "$(for f in "${examples[@]}"; do "$IMGRECIPE" validate "$f" >/dev/null 2>&1 || echo "$f"; done | wc -l)"

SHARED=${IMGRECIPE_SHARED_DIR:-$REPO_DIR/../shared}
DATA=$SHARED/compat/alic-testdata
TSV=$SHARED/compat/alic-testdata-expectations.tsv
if [[ -d "$DATA" && -f "$TSV" ]]; then
    mapfile -t valid < <(awk -F'\t' 'NR > 1 && ($2 == "valid" || $2 == "runtime-failure") { print $1 }' "$TSV")
    # storage-more-than-one.yaml breaks a rule across the baseConfigs chain,
    # which a schema of one file cannot express (imgrecipe validate catches it).
    mapfile -t invalid < <(awk -F'\t' 'NR > 1 && $2 != "valid" && $2 != "runtime-failure" &&
                                       $1 != "storage-more-than-one.yaml" { print $1 }' "$TSV")
    out=$(cd "$DATA" && $CHECK "$SCHEMA" valid "${valid[@]}" 2>&1) && rc=0 || rc=$?
    check_eq "every valid ALIC corpus config is valid against the schema (${#valid[@]})" "0" "$rc$(grep FAIL <<<"$out" | sed "s/^/ /" || true)"
    check "the corpus has at least 150 valid configs" test "${#valid[@]}" -ge 150
    out=$(cd "$DATA" && $CHECK "$SCHEMA" invalid "${invalid[@]}" 2>&1) && rc=0 || rc=$?
    check_eq "the corpus's invalid configs and other schemas fail (${#invalid[@]})" "0" "$rc$(grep FAIL <<<"$out" | sed "s/^/ /" || true)"

    mkdir "$T_TMP/broken"
    for f in "${valid[@]}" "${examples[@]}"; do
        [[ $f == /* ]] || f=$DATA/$f
        $CHECK "$SCHEMA" mutate "$f" "$T_TMP/broken" >/dev/null
    done
    mapfile -t broken < <(find "$T_TMP/broken" -name '*.yaml' | sort)
    out=$($CHECK "$SCHEMA" invalid "${broken[@]}" 2>&1) && rc=0 || rc=$?
    check_eq "every broken variant fails against the schema (${#broken[@]})" "0" "$rc$(grep FAIL <<<"$out" | sed "s/^/ /" || true)"
    for kind in toplevel-misspelled os-misspelled format-enum fs-type-enum uid-type; do
        check "broken variants include $kind" compgen -G "$T_TMP/broken/*--$kind.yaml" >/dev/null
    done
    # imgrecipe validate agrees, for the same reason, on one of each kind
    # (one without baseConfigs: the copies are not beside their bases).
    declare -A reason=([toplevel-misspelled]="unknown key" [os-misspelled]="unknown key (did you mean 'hostname'?)"
                       [format-enum]="invalid value 'qcow3'" [fs-type-enum]="invalid value 'ext5'"
                       [uid-type]="expected an integer")
    for kind in "${!reason[@]}"; do
        f=$(grep -L '^baseConfigs:' "$T_TMP"/broken/*--"$kind".yaml | sed -n 1p)  # sed reads all: no SIGPIPE
        set +e
        vout=$("$IMGRECIPE" validate "$f" 2>&1)
        set -e
        check_contains "imgrecipe validate also rejects $kind (${f##*/})" "$vout" "${reason[$kind]}"
    done
else
    echo "note: no ALIC testdata at $DATA (set IMGRECIPE_SHARED_DIR); corpus checks skipped"
fi
t_done
