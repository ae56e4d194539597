#!/usr/bin/env bash
# `imgrecipe convert` (ALIC's convert, recipes/convert.lua): the debian-base
# image to every disk format and back, compared by qemu-img (lossless); a
# disk that is not whole MiB to a VHD (grown with zeros); to cosi (read back
# by helpers/cosi_read.py; the root, which fills its partition, shrunk) and
# to baremetal-image; an ext4 that does not fill its partition is not
# shrunk; the flags' errors (ISO input, unknown or unsupported format,
# missing flag, output = input, bad level) named clearly with nothing left
# behind; the input unchanged throughout (sha256).
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base

sum_before=$(sha256sum < "$IMG_PATH")
b=$T_TMP/b
o=$T_TMP/o
mkdir -p "$o"

convert() {  # convert LOG imgrecipe-convert-args... -> exit code
    local log=$1 rc
    shift
    set +e
    "$IMGRECIPE" convert --build-dir "$b" "$@" > "$log" 2>&1
    rc=$?
    set -e
    return $rc
}
no_leaks() {  # no_leaks TAG
    check_eq "$1: no loop device left" 0 "$(all_loops)"
    check_eq "$1: no mount left" 0 "$(mounts_under "$T_TMP")"
    check_eq "$1: build directory empty" "" "$(find "$b" -mindepth 1 -maxdepth 1 2>/dev/null)"
    check_eq "$1: no temporary output" "" "$(find "$o" -name '.*' 2>/dev/null)"
}
quiet() { "$@" > /dev/null; }
qfmt() { case $1 in vhd|vhd-fixed) echo vpc ;; *) echo "$1" ;; esac; }

# ---- disk formats, there and back -------------------------------------------
for fmt in raw qcow2 vhd vhd-fixed vhdx; do
    out=$o/disk.$fmt
    if convert "$T_TMP/c.log" --image-file "$IMG_PATH" --output-image-file "$out" --output-image-format "$fmt"; then
        t_pass "$fmt: convert succeeds"
    else
        t_fail "$fmt: convert failed: $(tail -5 "$T_TMP/c.log")"
        continue
    fi
    check_contains "$fmt: one qemu-img pass, no working copy" "$(cat "$T_TMP/c.log")" "converting $IMG_PATH (raw) to $fmt"
    check_not_contains "$fmt: no raw working copy" "$(cat "$T_TMP/c.log")" "raw working copy"
    info=$(qemu-img info -f "$(qfmt "$fmt")" --output=json "$out")
    check_eq "$fmt: qemu-img reads it as $(qfmt "$fmt")" "$(qfmt "$fmt")" "$(jq -r .format <<< "$info")"
    check_eq "$fmt: virtual size" "$IMG_SIZE" "$(jq -r '.["virtual-size"]' <<< "$info")"
    check "$fmt: same disk content (qemu-img compare)" qemu-img compare -q -f raw -F "$(qfmt "$fmt")" "$IMG_PATH" "$out"
    case $fmt in
        vhd) check_eq "vhd: dynamic" 3 "$(tail -c 512 "$out" | od -An -tu1 -j60 -N4 | awk '{print $4}')" ;;
        vhd-fixed) check_eq "vhd-fixed: fixed" 2 "$(tail -c 512 "$out" | od -An -tu1 -j60 -N4 | awk '{print $4}')" ;;
    esac
    check "$fmt: sparse (allocates less than the disk)" test "$(du -B1 "$out" | cut -f1)" -lt "$IMG_SIZE"
    # Back to raw, the output's format detected from its content.
    if convert "$T_TMP/c.log" --image-file "$out" --output-path "$o/back.raw" --output-image-format raw; then
        t_pass "$fmt: back to raw succeeds (--output-path)"
        check "$fmt: back to raw: byte-identical disk" cmp -s "$IMG_PATH" "$o/back.raw"
    else
        t_fail "$fmt: back to raw failed: $(tail -5 "$T_TMP/c.log")"
    fi
    no_leaks "$fmt"
    rm -f "$o/back.raw"
    [[ $fmt == qcow2 ]] || rm -f "$out"
done
# Not from raw: qcow2 to vhdx.
if convert "$T_TMP/c.log" --image-file "$o/disk.qcow2" --output-image-file "$o/q.vhdx" --output-image-format vhdx; then
    t_pass "qcow2 -> vhdx succeeds"
    check "qcow2 -> vhdx: same disk content" qemu-img compare -q -f raw -F vhdx "$IMG_PATH" "$o/q.vhdx"
else
    t_fail "qcow2 -> vhdx failed: $(tail -5 "$T_TMP/c.log")"
fi
rm -f "$o/disk.qcow2" "$o/q.vhdx"

# A disk that is not whole MiB becomes a VHD grown with zeros to whole MiB
# (through a raw copy in the build directory, removed after).
head -c $((5 * 1048576 + 512)) /dev/urandom > "$T_TMP/odd.raw"
if convert "$T_TMP/c.log" --image-file "$T_TMP/odd.raw" --output-image-file "$o/odd.vhd" --output-image-format vhd-fixed; then
    t_pass "odd size: convert to vhd-fixed succeeds"
    check_eq "odd size: grown to 6 MiB" $((6 * 1048576)) "$(qemu-img info -f vpc --output=json "$o/odd.vhd" | jq '.["virtual-size"]')"
    check "odd size: the data, then zeros" qemu-img compare -q -f raw -F vpc "$T_TMP/odd.raw" "$o/odd.vhd"
    check_contains "odd size: through a raw copy" "$(cat "$T_TMP/c.log")" "not whole MiB"
else
    t_fail "odd size failed: $(tail -5 "$T_TMP/c.log")"
fi
no_leaks "odd size"
rm -f "$o/odd.vhd"

# ---- cosi: the root fills its partition and is shrunk ----------------------
if convert "$T_TMP/c.log" --image-file "$IMG_PATH" --output-path "$o/debian.cosi" --output-image-format cosi; then
    t_pass "cosi: convert succeeds"
else
    t_fail "cosi: convert failed: $(tail -20 "$T_TMP/c.log")"
fi
no_leaks cosi
check_contains "cosi: the filling root is shrunk" "$(cat "$T_TMP/c.log")" "partition 2 shrunk from $ROOT_SIZE to"
mkdir -p "$T_TMP/x"
set +e
python3 "$TESTS_DIR/integration/helpers/cosi_read.py" "$o/debian.cosi" "$T_TMP/x" > "$T_TMP/read.txt"
rc=$?
set -e
read=$(cat "$T_TMP/read.txt")
check_eq "cosi: reader finds nothing wrong" 0 "$rc"
[[ $rc -eq 0 ]] || grep '^bad:' "$T_TMP/read.txt" | head
check_contains "cosi: root image" "$read" "image / ext4 $ROOT_UUID"
check_contains "cosi: ESP image" "$read" "image /boot/efi vfat $ESP_UUID"
check_contains "cosi: ALIC's window" "$read" "meta maxWindowLog=27"
check_eq "cosi: the OS is the input's (hostname)" "$IMG_HOSTNAME" "$(fs_cat "$T_TMP/x/p2.raw" 0 /etc/hostname)"
check "cosi: root e2fsck -fn clean" quiet e2fsck -fn "$T_TMP/x/p2.raw"
check "cosi: root shrunk" test "$(stat -c %s "$T_TMP/x/p2.raw")" -lt "$ROOT_SIZE"
# Level 9 by default: the zstd CLI's -9 gives the same GPT frame.
python3 -c 'import sys, tarfile
sys.stdout.buffer.write(tarfile.open(sys.argv[1], "r:").extractfile("images/debian_gpt.raw.zst").read()[24:])' \
    "$o/debian.cosi" > "$T_TMP/gpt.zst"
zstd -q -f -9 --long=27 -T2 "$T_TMP/x/gpt.raw" -o "$T_TMP/gpt.9.zst"
check "cosi: level 9 by default" cmp -s "$T_TMP/gpt.zst" "$T_TMP/gpt.9.zst"
rm -rf "$T_TMP/x" "$o/debian.cosi"

# ---- cosi of an ext4 smaller than its partition: kept as it is -------------
cp --sparse=always "$IMG_PATH" "$T_TMP/gap.raw"
loop=$(losetup -f --show -o "$ROOT_OFFSET" --sizelimit "$ROOT_SIZE" "$T_TMP/gap.raw")
e2fsck -fy "$loop" > /dev/null 2>&1 || true
resize2fs "$loop" 1500M > /dev/null 2>&1
losetup -d "$loop"
gap_sum=$(sha256sum < "$T_TMP/gap.raw")
if convert "$T_TMP/c.log" --image-file "$T_TMP/gap.raw" --output-image-file "$o/gap.cosi" --output-image-format cosi \
    --cosi-compression-level 1; then
    t_pass "gap: convert succeeds"
else
    t_fail "gap: convert failed: $(tail -20 "$T_TMP/c.log")"
fi
no_leaks gap
check_contains "gap: the root is not shrunk, and the log says why" "$(cat "$T_TMP/c.log")" \
    "partition 2 (ext4) not shrunk: its filesystem ($((1500 * 1048576)) bytes) does not fill the partition ($ROOT_SIZE bytes)"
mkdir -p "$T_TMP/x"
set +e
python3 "$TESTS_DIR/integration/helpers/cosi_read.py" "$o/gap.cosi" "$T_TMP/x" > "$T_TMP/read.txt"
rc=$?
set -e
check_eq "gap: reader finds nothing wrong" 0 "$rc"
check_eq "gap: the root image is the whole partition" "$ROOT_SIZE" "$(stat -c %s "$T_TMP/x/p2.raw")"
check_eq "gap: the input is unchanged" "$gap_sum" "$(sha256sum < "$T_TMP/gap.raw")"
rm -rf "$T_TMP/x" "$o/gap.cosi" "$T_TMP/gap.raw"

# ---- baremetal-image ---------------------------------------------------------
if IMGRECIPE_FAULT_INJECT=count convert "$T_TMP/c.log" --image-file "$IMG_PATH" --output-image-file "$o/bm.vhd" \
    --output-image-format baremetal-image --cosi-compression-level 1 --log-level debug; then
    t_pass "baremetal-image: convert succeeds"
    size=$(stat -c %s "$o/bm.vhd")
    check_eq "baremetal-image: whole MiB plus the footer" 512 $((size % 1048576))
    check_eq "baremetal-image: qemu-img reads a vpc of the padded tar" "vpc $((size - 512))" \
        "$(qemu-img info -f vpc --output=json "$o/bm.vhd" | jq -r '"\(.format) \(.["virtual-size"])"')"
    check "baremetal-image: valid fixed-VHD footer" quiet python3 "$TESTS_DIR/integration/helpers/vhd_check.py" "$o/bm.vhd"
    mkdir -p "$T_TMP/x"
    check "baremetal-image: the tar is a COSI" quiet python3 "$TESTS_DIR/integration/helpers/cosi_read.py" "$o/bm.vhd" "$T_TMP/x"
    rm -rf "$T_TMP/x"
else
    t_fail "baremetal-image: convert failed: $(tail -20 "$T_TMP/c.log")"
fi
no_leaks baremetal-image
rm -f "$o/bm.vhd"
# A failure while the footer is written (fault injection at that host
# operation) leaves nothing: no output, no temporary, no working copy.
n=$(sed -n 's/.*host operation \([0-9]*\): write vhd footer .*/\1/p' "$T_TMP/c.log")
check "baremetal-image: the footer is a host operation of its own" test -n "$n"
if [[ -n $n ]]; then
    rc=0
    IMGRECIPE_FAULT_INJECT=$n convert "$T_TMP/c.log" --image-file "$IMG_PATH" --output-image-file "$o/bm.vhd" \
        --output-image-format baremetal-image --cosi-compression-level 1 || rc=$?
    check "baremetal-image: fault at the footer fails the run" test "$rc" -ne 0
    check_contains "baremetal-image: the error names it" "$(cat "$T_TMP/c.log")" "injected fault at host operation $n (write vhd footer"
    check_eq "baremetal-image: no output or temporary after the fault" "" "$(find "$o" -mindepth 1 2>/dev/null)"
    check_not_contains "baremetal-image: nothing left behind" "$(cat "$T_TMP/c.log")" "left behind"
    no_leaks "baremetal-image fault"
fi

# ---- errors: clear, and nothing written --------------------------------------
refused() {  # refused TAG EXPECTED-RC EXPECTED-MESSAGE convert-args...
    local tag=$1 want_rc=$2 want=$3
    shift 3
    local rc=0
    convert "$T_TMP/e.log" "$@" || rc=$?
    check_eq "$tag: exit code" "$want_rc" "$rc"
    check_contains "$tag: message" "$(cat "$T_TMP/e.log")" "$want"
    check_eq "$tag: nothing written" "" "$(find "$o" -mindepth 1 2>/dev/null)"
    no_leaks "$tag"
}
# An ISO 9660 volume descriptor at 32 KiB (what every ISO, hybrid or not, has).
truncate -s 1M "$T_TMP/live.iso"
printf '\001CD001\001' | dd of="$T_TMP/live.iso" bs=1 seek=32768 conv=notrunc status=none
refused "ISO input" 1 "input image $T_TMP/live.iso: it is an ISO 9660 image (e.g. a LiveOS ISO); ISO inputs are not supported" \
    --image-file "$T_TMP/live.iso" --output-image-file "$o/x.raw" --output-image-format raw
refused "ISO input to cosi" 1 "it is an ISO 9660 image" \
    --image-file "$T_TMP/live.iso" --output-image-file "$o/x.cosi" --output-image-format cosi
refused "unknown format" 2 "output image $o/x.vmdk: unknown output format 'vmdk' (valid: raw, qcow2, vhd, vhd-fixed, vhdx, cosi, baremetal-image)" \
    --image-file "$IMG_PATH" --output-image-file "$o/x.vmdk" --output-image-format vmdk
refused "iso output" 2 "the output format 'iso' is not supported by imgrecipe" \
    --image-file "$IMG_PATH" --output-image-file "$o/x.iso" --output-image-format iso
refused "missing --output-image-format" 2 "imgrecipe convert needs --output-image-format (raw, qcow2, vhd, vhd-fixed, vhdx, cosi or baremetal-image)" \
    --image-file "$IMG_PATH" --output-image-file "$o/x.raw"
refused "missing --image-file" 2 "imgrecipe convert needs --image-file (the input image)" \
    --output-image-file "$o/x.raw" --output-image-format raw
refused "missing output" 2 "imgrecipe convert needs --output-image-file" \
    --image-file "$IMG_PATH" --output-image-format raw
refused "output is the input" 2 "it is the input image" \
    --image-file "$IMG_PATH" --output-image-file "$IMG_PATH" --output-image-format qcow2
refused "missing input" 2 "input image $T_TMP/nope.raw: it does not exist" \
    --image-file "$T_TMP/nope.raw" --output-image-file "$o/x.raw" --output-image-format raw
refused "bad level" 2 "--cosi-compression-level 0: expected a whole number from 1 to 22" \
    --image-file "$IMG_PATH" --output-image-file "$o/x.cosi" --output-image-format cosi --cosi-compression-level 0
refused "a build flag" 2 "imgrecipe convert does not take --config-file" \
    --config-file x.yaml --image-file "$IMG_PATH" --output-image-file "$o/x.raw" --output-image-format raw
help=$("$IMGRECIPE" convert --help)
check_contains "convert --help: its own usage" "$help" "imgrecipe convert --image-file IN --output-image-file OUT --output-image-format FMT"
check_contains "convert --help: the formats" "$help" "cosi, baremetal-image"
check_contains "main --help lists convert" "$("$IMGRECIPE" --help)" "imgrecipe convert --image-file IN"

check_eq "the input is unchanged (sha256)" "$sum_before" "$(sha256sum < "$IMG_PATH")"
t_done
