#!/usr/bin/env bash
# boot-check.sh — boot a disk image under QEMU + OVMF and wait for serial-console markers.
#
# Usage: tests/lib/boot-check.sh --image FILE [--format raw|qcow2|vhdx|vhd|vpc]
#            --marker TEXT [--marker TEXT ...] [--timeout SEC] [--log FILE] [--firmware uefi|bios]
#            [--media disk|cd] [--memory MIB] [--secure-boot ms|snakeoil]
#        tests/lib/boot-check.sh --pxe DIR --marker TEXT ... (UEFI network boot)
#
#   --image    disk image; never modified (QEMU snapshot=on, writes go to a temp overlay)
#   --format   image format (default raw; vhd is an alias of QEMU's vpc)
#   --marker   fixed string that must appear in the serial log (all must appear; repeatable)
#   --timeout  seconds before giving up (default 180), times IMGRECIPE_BOOT_TIMEOUT_SCALE
#              (default 2: other tests' builds share the cores with the guest)
#   --log      keep the serial log at FILE (default: a temp file, removed on exit)
#   --firmware uefi (default: OVMF) or bios (QEMU's SeaBIOS, for legacy-BIOS images)
#   --media    disk (default: virtio-blk) or cd (a read-only CD-ROM on virtio-scsi: ISOs)
#   --pxe      instead of --image: UEFI network boot from the PXE tree DIR through QEMU's
#              user-mode network and its built-in TFTP server (bootfile bootx64.efi, the
#              host is 10.0.2.2 from the guest); no disk
#   --memory   guest memory in MiB (default 1024)
#   --secure-boot ms|snakeoil
#              UEFI with Secure Boot ENABLED (default: off): OVMF_CODE_4M.secboot.fd with
#              OVMF_VARS_4M.ms.fd (ms: Microsoft's KEK and db, so Microsoft-signed shim
#              boots) or OVMF_VARS_4M.snakeoil.fd (snakeoil: only the test key
#              /usr/share/ovmf/PkKek-1-snakeoil.pem in PK, KEK and db; its private key,
#              passphrase "snakeoil", signs test loaders). The secboot firmware needs SMM:
#              the machine becomes q35,smm=on with the flash in secure mode
#              (cfi.pflash01 secure=on). A loader the db does not allow is refused with
#              "Access Denied", a failure pattern below (fast, not a timeout).
#
# One guest runs at a time on the machine: the guest holds a lock
# (IMGRECIPE_QEMU_LOCK, default <cache>/locks/qemu.lock) while it runs; the
# wait for it is not part of the timeout. QEMU runs at nice -10
# (IMGRECIPE_BOOT_NICE) ahead of the tests building beside it.
# Exit status: 0 all markers seen; 1 failure (boot error pattern, QEMU exited, or
# timeout; the last 40 log lines are printed to stderr); 2 usage error.
# Failure patterns: "Kernel panic", "emergency mode", "Access Denied", "Security Violation" (shim
# refusing an image),
# "Give root password for maintenance", "UEFI Interactive Shell" (firmware found nothing
# bootable), "grub rescue>".
# Machine: q35, OVMF_CODE_4M.fd + a per-run copy of OVMF_VARS_4M.fd (Secure Boot off; SeaBIOS with
# --firmware bios; see --secure-boot),
# TCG (-cpu max) unless kvm_intel/kvm_amd is loaded, 1 GiB RAM, 2 vCPUs (IMGRECIPE_BOOT_SMP), virtio-blk,
# no NIC, no display. QEMU is always killed by PID on exit.
set -euo pipefail

IR_PROG=boot-check.sh
SCRIPT_PATH=$(readlink -f -- "${BASH_SOURCE[0]}")
# shellcheck source=tests/lib/common.sh
. "${SCRIPT_PATH%/*}/common.sh"

usage() {
    sed -n '3,7p' "$SCRIPT_PATH" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

IMAGE='' FORMAT=raw TIMEOUT=180 LOG_KEEP='' FIRMWARE=uefi MEDIA=disk PXE_DIR='' MEMORY=1024 SECURE_BOOT=''
MARKERS=()
while (($#)); do
    case $1 in
        --image) IMAGE=${2:?}; shift ;;
        --format) FORMAT=${2:?}; shift ;;
        --marker) MARKERS+=("${2:?}"); shift ;;
        --timeout) TIMEOUT=${2:?}; shift ;;
        --log) LOG_KEEP=${2:?}; shift ;;
        --firmware) FIRMWARE=${2:?}; shift ;;
        --media) MEDIA=${2:?}; shift ;;
        --pxe) PXE_DIR=${2:?}; shift ;;
        --memory) MEMORY=${2:?}; shift ;;
        --secure-boot) SECURE_BOOT=${2:?}; shift ;;
        -h | --help) usage ;;
        *) ir_warn "unknown argument: $1"; usage ;;
    esac
    shift
done
[[ -n $IMAGE || -n $PXE_DIR ]] || { ir_warn "--image or --pxe is required"; usage; }
[[ -z $IMAGE || -z $PXE_DIR ]] || { ir_warn "--image and --pxe are exclusive"; usage; }
[[ $MEMORY =~ ^[0-9]+$ && $MEMORY -ge 256 ]] || { ir_warn "bad --memory: $MEMORY"; usage; }
((${#MARKERS[@]})) || { ir_warn "at least one --marker is required"; usage; }
[[ $TIMEOUT =~ ^[0-9]+$ && $TIMEOUT -gt 0 ]] || { ir_warn "bad --timeout: $TIMEOUT"; usage; }
TIMEOUT_SCALE=${IMGRECIPE_BOOT_TIMEOUT_SCALE:-2}
[[ $TIMEOUT_SCALE =~ ^[1-9][0-9]*$ ]] || { ir_warn "bad IMGRECIPE_BOOT_TIMEOUT_SCALE: $TIMEOUT_SCALE"; usage; }
TIMEOUT=$((TIMEOUT * TIMEOUT_SCALE))
case $FORMAT in
    raw | qcow2 | vhdx | vpc) ;;
    vhd) FORMAT=vpc ;;
    *) ir_warn "unsupported --format: $FORMAT"; usage ;;
esac
case $FIRMWARE in
    uefi | bios) ;;
    *) ir_warn "unsupported --firmware: $FIRMWARE"; usage ;;
esac
case $MEDIA in
    disk | cd) ;;
    *) ir_warn "unsupported --media: $MEDIA"; usage ;;
esac
case $SECURE_BOOT in
    '' | ms | snakeoil) ;;
    *) ir_warn "unsupported --secure-boot: $SECURE_BOOT (ms or snakeoil)"; usage ;;
esac
[[ -z $SECURE_BOOT || $FIRMWARE == uefi ]] || { ir_warn "--secure-boot needs --firmware uefi"; usage; }
if [[ -n $PXE_DIR ]]; then
    [[ -f $PXE_DIR/bootx64.efi ]] || ir_die "no bootx64.efi in the PXE tree $PXE_DIR"
    [[ $FIRMWARE == uefi ]] || ir_die "--pxe boots UEFI only"
    PXE_DIR=$(readlink -f -- "$PXE_DIR")
else
    [[ -f $IMAGE ]] || ir_die "no such image: $IMAGE"
    IMAGE=$(readlink -f -- "$IMAGE")
fi

QEMU=${QEMU:-qemu-system-x86_64}
MACHINE=q35
SECBOOT_OPTS=()
if [[ -n $SECURE_BOOT ]]; then
    # The secboot build refuses to run without SMM; the secure flash keeps the
    # variable store (and so the keys) writable from SMM only.
    OVMF_CODE=${OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.secboot.fd}
    OVMF_VARS=${OVMF_VARS:-/usr/share/OVMF/OVMF_VARS_4M.$SECURE_BOOT.fd}
    MACHINE=q35,smm=on
    SECBOOT_OPTS=(-global "driver=cfi.pflash01,property=secure,value=on")
fi
OVMF_CODE=${OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.fd}
OVMF_VARS=${OVMF_VARS:-/usr/share/OVMF/OVMF_VARS_4M.fd}
ir_need "$QEMU" flock
[[ $FIRMWARE == bios || ( -f $OVMF_CODE && -f $OVMF_VARS ) ]] || ir_die "OVMF not found ($OVMF_CODE, $OVMF_VARS); install ovmf"

FAIL_PATTERNS=("Kernel panic" "emergency mode" "Access Denied" "Security Violation" "Give root password for maintenance"
    "UEFI Interactive Shell" "grub rescue>")

TMP=$(mktemp -d "${TMPDIR:-/tmp}/boot-check.XXXXXX")
QEMU_PID=
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM HUP
    # Stopping QEMU must not depend on stderr still being writable.
    trap "" PIPE
    set +e
    if ((rc >= 128)); then ir_warn "interrupted (status $rc); stopping QEMU"; fi
    if [[ -n $QEMU_PID ]] && kill -0 "$QEMU_PID" 2>/dev/null; then
        kill -TERM "$QEMU_PID" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$QEMU_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$QEMU_PID" 2>/dev/null || true
    fi
    if [[ -n $QEMU_PID ]]; then wait "$QEMU_PID" 2>/dev/null || true; fi
    rm -rf -- "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
# A closed pipe on stdout (`| head`) must still stop QEMU, or it keeps the boot lock.
trap 'exit 141' PIPE

if [[ -n $LOG_KEEP ]]; then
    mkdir -p -- "$(dirname -- "$LOG_KEEP")"
    LOG=$(readlink -f -- "$LOG_KEEP")
else
    LOG=$TMP/serial.log
fi
: >"$LOG"
FIRMWARE_OPTS=()
if [[ $FIRMWARE == uefi ]]; then
    cp -- "$OVMF_VARS" "$TMP/OVMF_VARS.fd"
    FIRMWARE_OPTS=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE//,/,,}"
        -drive "if=pflash,format=raw,unit=1,file=$TMP/OVMF_VARS.fd")
fi

if [[ -e /sys/module/kvm_intel || -e /sys/module/kvm_amd ]] && [[ -w /dev/kvm ]]; then
    ACCEL=(-accel kvm -cpu host)
else
    ACCEL=(-accel tcg -cpu max)
fi

# QEMU's -drive option syntax uses "," as separator: double any commas in the path.
IMG_OPT=${IMAGE//,/,,}
NIC=(-nic none)
if [[ -n $PXE_DIR ]]; then
    DRIVE=()
    NIC=(-netdev "user,id=n0,tftp=${PXE_DIR//,/,,},bootfile=bootx64.efi"
        -device virtio-net-pci,netdev=n0,bootindex=0)
    IMAGE="PXE tree $PXE_DIR"
elif [[ $MEDIA == cd ]]; then
    DRIVE=(-drive "if=none,id=d0,file=$IMG_OPT,format=$FORMAT,media=cdrom,readonly=on"
        -device virtio-scsi-pci -device scsi-cd,drive=d0,bootindex=0)
else
    DRIVE=(-drive "if=none,id=d0,file=$IMG_OPT,format=$FORMAT,snapshot=on" -device virtio-blk-pci,drive=d0)
fi
# One guest at a time on the machine: the tests around a boot (builds, checks)
# run side by side, but a TCG guest needs the cores its timeouts assume. The
# lock is an fd QEMU inherits, so it is held exactly as long as a guest runs.
LOCK=${IMGRECIPE_QEMU_LOCK:-${IMGRECIPE_CACHE_DIR:-/var/cache/imgrecipe}/locks/qemu.lock}
mkdir -p -- "$(dirname -- "$LOCK")"
exec {lock_fd}>>"$LOCK"
if ! flock -n "$lock_fd"; then
    T0=$(ir_now)
    ir_log "waiting for another test's guest to finish ($LOCK)"
    flock "$lock_fd"
    ir_log "waited $(ir_elapsed "$T0") s for $LOCK"
fi
T0=$(ir_now)
ir_log "booting $IMAGE (format $FORMAT, $MEDIA, $FIRMWARE${SECURE_BOOT:+ Secure Boot $SECURE_BOOT}, ${ACCEL[1]}, timeout ${TIMEOUT}s), serial log $LOG"
# snapshot=on keeps its temporary overlay in TMPDIR: point it at our temp dir.
# The guests are the one chain of work that cannot run side by side (the
# lock): QEMU runs before the builds around it (nice -10), so a boot takes
# about as long as on an idle machine and the other tests get the rest.
TMPDIR=$TMP nice -n "${IMGRECIPE_BOOT_NICE:--10}" "$QEMU" \
    -machine "$MACHINE" "${ACCEL[@]}" -m "$MEMORY" -smp "${IMGRECIPE_BOOT_SMP:-2}" \
    "${SECBOOT_OPTS[@]}" "${FIRMWARE_OPTS[@]}" \
    "${DRIVE[@]}" \
    "${NIC[@]}" -display none -serial "file:$LOG" -monitor none -no-reboot \
    </dev/null >"$TMP/qemu.out" 2>&1 &
QEMU_PID=$!

fail() {
    ir_warn "FAIL after $(ir_elapsed "$T0") s: $*"
    if [[ -s $TMP/qemu.out ]]; then
        echo "---- qemu output ----" >&2
        tail -n 20 "$TMP/qemu.out" >&2
    fi
    echo "---- last 40 lines of serial log ----" >&2
    tail -n 40 "$LOG" | tr -d '\r' | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' >&2
    exit 1
}

while :; do
    missing=()
    for m in "${MARKERS[@]}"; do
        grep -qaF -- "$m" "$LOG" || missing+=("$m")
    done
    if ((${#missing[@]} == 0)); then
        ir_log "PASS: all ${#MARKERS[@]} marker(s) seen after $(ir_elapsed "$T0") s"
        exit 0
    fi
    for p in "${FAIL_PATTERNS[@]}"; do
        if grep -qaF -- "$p" "$LOG"; then fail "found \"$p\" in the serial log"; fi
    done
    if ! kill -0 "$QEMU_PID" 2>/dev/null; then
        rc=0
        wait "$QEMU_PID" || rc=$?
        QEMU_PID=
        fail "QEMU exited (status $rc) before marker(s): ${missing[*]}"
    fi
    if awk -v s="$T0" -v e="$(ir_now)" -v t="$TIMEOUT" 'BEGIN { exit !(e - s >= t) }'; then
        fail "timeout (${TIMEOUT}s) waiting for marker(s): ${missing[*]}"
    fi
    sleep 1
done
