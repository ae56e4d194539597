# shellcheck shell=bash
# Shared helpers for the imgrecipe shell test tooling (tests/images, tests/lib).
# Source it; it does not change shell options. Everything logs to stderr so
# that scripts can keep stdout for their machine-readable result.

# Program name used in log lines; callers may override before sourcing.
: "${IR_PROG:=${0##*/}}"

# Timestamp (seconds since the epoch, with milliseconds).
ir_now() { date +%s.%3N; }

# ir_elapsed START -> seconds since START with one decimal.
ir_elapsed() { awk -v s="$1" -v e="$(ir_now)" 'BEGIN { printf "%.1f", e - s }'; }

ir_log() { printf '%s: %s\n' "$IR_PROG" "$*" >&2; }
ir_warn() { printf '%s: warning: %s\n' "$IR_PROG" "$*" >&2; }
ir_die() { printf '%s: error: %s\n' "$IR_PROG" "$*" >&2; exit 1; }

# ir_need CMD... -> die unless every command is on PATH (sbin included).
ir_need() {
    local c missing=()
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$c" >/dev/null 2>&1 \
            || missing+=("$c")
    done
    ((${#missing[@]} == 0)) || ir_die "missing commands: ${missing[*]}"
}

# ir_sha256 -> hex sha256 of stdin.
ir_sha256() { sha256sum | cut -d' ' -f1; }

# ir_uuid_from SEED -> a stable RFC 4122-shaped (version 4 layout) UUID derived from SEED.
ir_uuid_from() {
    local h
    h=$(printf '%s' "$1" | sha256sum | cut -c1-32)
    printf '%s-%s-4%s-%x%s-%s\n' "${h:0:8}" "${h:8:4}" "${h:13:3}" \
        $(( (0x${h:16:1} & 0x3) | 0x8 )) "${h:17:3}" "${h:20:12}"
}

# ir_umount_under DIR -> lazily unmount every mount point at or below DIR
# (deepest first). Used only to clean up after debootstrap if it was
# interrupted; this tooling never mounts anything itself.
ir_umount_under() {
    local dir m
    dir=$(readlink -f -- "$1" 2>/dev/null) || return 0
    [[ -n "$dir" && "$dir" != / ]] || return 0
    awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo \
        | sort -r | while read -r m; do
            umount -l -- "$m" 2>/dev/null || ir_warn "could not unmount $m"
        done
}

# ir_rm_tree DIR -> unmount leftovers below DIR, then remove it without
# crossing into other filesystems.
ir_rm_tree() {
    [[ -n "${1:-}" && -e "$1" ]] || return 0
    ir_umount_under "$1"
    rm -rf --one-file-system -- "$1"
}

# ir_part_field IMG N FIELD -> start/size (sectors) of partition N from sfdisk -d.
ir_part_field() {
    local img=$1 n=$2 field=$3
    sfdisk -d -- "$img" 2>/dev/null | awk -v n="$n" -v f="$field" '
        /^\// && !done {
            i++
            if (i != n) next
            line = $0; sub(/^[^:]*:/, "", line)
            k = split(line, parts, ",")
            for (j = 1; j <= k; j++) {
                split(parts[j], kv, "=")
                gsub(/ /, "", kv[1]); gsub(/ /, "", kv[2])
                if (kv[1] == f) { print kv[2]; done = 1 }
            }
        }'
}
