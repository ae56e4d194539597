# shellcheck shell=bash
# Shared by the bench/ scripts.

# run_measured TIMEFILE CMD...: runs CMD under /usr/bin/time, which writes
# "seconds peakKiB" to TIMEFILE (peak RSS of CMD *or of any child it waited
# for*: mkfs, cp, e2fsck, qemu-img, commands in the image); prints CMD's own
# peak RSS and its peak private (anonymous) memory in KiB: VmHWM and RssAnon
# of its process, sampled every 0.1 s (VmHWM only grows, so its last sample
# is the peak up to 0.1 s before the end; RssAnon is a sampled maximum).
# Returns CMD's exit status.
run_measured() {
    local tf=$1 tpid pid="" hwm=0 anon=0 v a rc=0
    shift
    /usr/bin/time -f '%e %M' -o "$tf" "$@" &
    tpid=$!
    while kill -0 "$tpid" 2>/dev/null; do
        [[ -n $pid ]] || pid=$(awk '{ print $1 }' "/proc/$tpid/task/$tpid/children" 2>/dev/null || true)
        if [[ -n $pid ]]; then
            read -r v a < <(awk '/^VmHWM:/ { h = $2 } /^RssAnon:/ { r = $2 } END { print h, r }' \
                "/proc/$pid/status" 2>/dev/null || true)
            [[ -n $v ]] && hwm=$v
            [[ -n $a ]] && ((a > anon)) && anon=$a
        fi
        sleep 0.1
    done
    wait "$tpid" || rc=$?
    echo "$hwm $anon"
    return "$rc"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
