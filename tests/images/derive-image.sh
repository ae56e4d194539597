#!/usr/bin/env bash
# derive-image.sh — build (or reuse from cache) a test image made from a base
# image of build-image.sh by imgrecipe itself, for the tests that all need the
# same starting point: one build for the whole suite instead of one per test.
#
# Usage: IMGRECIPE=BINARY tests/images/derive-image.sh VARIANT
#   prints the path of the cached disk.raw; its image.env (next to it) is the
#   base's, with IMG_VARIANT, IMG_KEY, IMG_PATH and IMG_HOSTNAME replaced (the
#   partitions and filesystem identities are the base's: nothing is re-laid out).
#
# Variants:
#   debian-dracut  debian-base with dracut and dracut-live installed from the
#                  image's own repositories (os.packages.install: dracut replaces
#                  initramfs-tools, and the initramfs is dracut's), dracut set
#                  to compress with zstd -3 (/etc/dracut.conf.d/50-imgrecipe-test.conf:
#                  Debian's gzip -9 was most of each dracut run), hostname
#                  debian-dracut. BOOTABLE. For the tests of what needs dracut
#                  (LiveOS, PXE, verity), which would otherwise each install it
#                  and so run dracut once more.
#
# Cache: images/<variant>-<key16>/ under ${IMGRECIPE_CACHE_DIR:-/var/cache/imgrecipe};
# key = sha256 of this script, the imgrecipe binary and the base image's key, so a
# new binary makes a new image (older entries of the variant are removed).
set -euo pipefail

IR_PROG=derive-image.sh
SCRIPT_PATH=$(readlink -f -- "${BASH_SOURCE[0]}")
SCRIPT_DIR=${SCRIPT_PATH%/*}
# shellcheck source=tests/lib/common.sh
. "$SCRIPT_DIR/../lib/common.sh"

VARIANT=${1:-}
case $VARIANT in
    debian-dracut) BASE=debian-base HOSTNAME_=debian-dracut ;;
    *) ir_die "unknown variant '$VARIANT' (debian-dracut)" ;;
esac
[[ $EUID -eq 0 ]] || ir_die "must run as root"
[[ -x ${IMGRECIPE:-} ]] || ir_die "IMGRECIPE must name the imgrecipe binary (got '${IMGRECIPE:-}')"
ir_need flock sha256sum

base_img=$("$SCRIPT_DIR/build-image.sh" "$BASE")
# shellcheck disable=SC1091
base_key=$(. "${base_img%/*}/image.env" && printf '%s' "$IMG_KEY")

CACHE_DIR=${IMGRECIPE_CACHE_DIR:-/var/cache/imgrecipe}
mkdir -p "$CACHE_DIR"/{images,tmp,locks}
CACHE_DIR=$(cd -- "$CACHE_DIR" && pwd -P)
KEY=$( { cat "$SCRIPT_PATH"; sha256sum < "$IMGRECIPE"; printf '%s\n' "$base_key"; } | ir_sha256)
IMG_DIR=$CACHE_DIR/images/$VARIANT-${KEY:0:16}
IMG=$IMG_DIR/disk.raw
T_START=$(ir_now)

prune() {
    local d
    for d in "$CACHE_DIR/images/$VARIANT"-*; do
        [[ -d $d && $d != "$IMG_DIR" ]] || continue
        ir_log "prune: removing stale $d"
        rm -rf --one-file-system -- "$d"
    done
}

# The entry appears by a rename: complete when it is there. Checked before
# the lock (the common case) and again once a concurrent build let go of it.
exit_if_cached() {
    [[ -f $IMG && -f $IMG_DIR/image.env ]] || return 0
    printf '%s\n' "$IMG"
    exit 0
}
exit_if_cached
exec {lock_fd}>"$CACHE_DIR/locks/$VARIANT.lock"
if ! flock -n "$lock_fd"; then
    ir_log "waiting for another build of $VARIANT"
    flock -w 3600 "$lock_fd" || ir_die "timed out waiting for the $VARIANT lock"
fi
exit_if_cached

TMP=$(mktemp -d "$CACHE_DIR/tmp/$VARIANT.XXXXXX")
trap 'rm -rf --one-file-system -- "$TMP"' EXIT
mkdir -p "$TMP/out"
case $VARIANT in
    debian-dracut)
        cat >"$TMP/config.yaml" <<EOF
os:
  hostname: $HOSTNAME_
  packages:
    install: [dracut, dracut-live]
  additionalFiles:
    - content: |
        # imgrecipe's test image: zstd -3, as imgrecipe's LiveOS initramfs, instead
        # of Debian's gzip -9 (without pigz), most of every dracut run's CPU time.
        compress="zstd -3 -q -T0"
      destination: /etc/dracut.conf.d/50-imgrecipe-test.conf
EOF
        ;;
esac
ir_log "$VARIANT: building from $base_img with $IMGRECIPE (key ${KEY:0:16})"
if ! "$IMGRECIPE" build "$TMP/config.yaml" --image-file "$base_img" --output-image-file "$TMP/out/disk.raw" \
    --output-image-format raw --build-dir "$TMP/build" >"$TMP/build.log" 2>&1; then
    tail -n 40 "$TMP/build.log" >&2
    ir_die "imgrecipe build of $VARIANT failed"
fi
sed -e "s|^IMG_VARIANT=.*|IMG_VARIANT=$VARIANT|" -e "s|^IMG_KEY=.*|IMG_KEY=$KEY|" \
    -e "s|^IMG_PATH=.*|IMG_PATH=$IMG|" -e "s|^IMG_HOSTNAME=.*|IMG_HOSTNAME=$HOSTNAME_|" \
    "${base_img%/*}/image.env" >"$TMP/out/image.env"
chmod 0444 "$TMP/out/disk.raw"
mv -T "$TMP/out" "$IMG_DIR"
ir_log "$VARIANT: built $IMG in $(ir_elapsed "$T_START") s"
prune
printf '%s\n' "$IMG"
