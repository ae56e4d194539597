#!/usr/bin/env bash
# `imgrecipe validate` on every config of ALIC's testdata, against
# shared/compat/alic-testdata-expectations.tsv. Needs no root and no image.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"

SHARED=${IMGRECIPE_SHARED_DIR:-$REPO_DIR/../shared}
DATA=$SHARED/compat/alic-testdata
TSV=$SHARED/compat/alic-testdata-expectations.tsv
if [[ ! -d "$DATA" || ! -f "$TSV" ]]; then
    echo "skipped: no ALIC testdata at $DATA (set IMGRECIPE_SHARED_DIR)"
    exit 77  # reported by ctest as skipped, never as passed
fi

# Rejections whose message uses ALIC's own words.
declare -A SAME_WORDING=([storage-more-than-one.yaml]=1)

count=0 with_files=0
while IFS=$'\t' read -r file outcome expected _; do
    [[ "$file" == file ]] && continue
    count=$((count + 1))
    set +e
    out=$(cd "$DATA" && "$IMGRECIPE" validate "$file" 2>&1)
    rc=$?
    set -e
    case "$outcome" in
    valid | runtime-failure)
        check_eq "$file: accepted ($outcome)" "0 $file: valid" "$rc $(grep -m1 ': valid$' <<<"$out" || true)"
        # The testdata ships package lists but not the files/ and scripts/
        # payloads: check resources, and accept only "does not exist" for those.
        set +e
        fout=$(cd "$DATA" && "$IMGRECIPE" validate --validate-resources files "$file" 2>&1)
        frc=$?
        set -e
        if [[ $frc -eq 0 ]]; then
            with_files=$((with_files + 1))
        else
            others=$(grep -v "does not exist" <<<"$fout" | grep -v '^warning:' || true)
            # What fails only at run time in ALIC (a /dev/zero source that fills the
            # disk) is refused up front here.
            [[ $outcome == runtime-failure ]] && others=$(grep -v "is not a regular file" <<<"$others" || true)
            check_eq "$file: resource problems are only missing payload files" "" "$others"
            check_eq "$file: --validate-resources files exits 1" 1 "$frc"
        fi
        ;;
    invalid-config)
        check_eq "$file: rejected" 1 "$rc"
        if [[ -n "${SAME_WORDING[$file]:-}" ]]; then
            check_contains "$file: ALIC's wording" "$out" "$expected"
        fi
        ;;
    other-schema:*)
        check_eq "$file: rejected ($outcome)" 1 "$rc"
        ;;
    *) t_fail "$file: unknown outcome '$outcome'" ;;
    esac
done < "$TSV"
check "every testdata config was checked ($count)" test "$count" -ge 180
echo "$with_files valid configs also pass --validate-resources files"
check "some configs pass --validate-resources files" test "$with_files" -ge 20
t_done
