#!/usr/bin/env bash
# Deploys extracted COSI images the way a provisioning agent does: a blank
# disk of metadata's disk.size, the primary GPT region written at byte 0,
# every partition image at its partition's start (read from that GPT), the
# backup GPT relocated to the end of the disk.
#   cosi_deploy.sh READ_OUTPUT DISK
# READ_OUTPUT is what cosi_read.py printed (its "meta disk.size=" and
# "region" lines name the extracted files).
set -euo pipefail
read_out=$1 disk=$2
size=$(sed -n 's/^meta disk.size=\([0-9]*\) .*/\1/p' "$read_out")
gpt=$(awk '$1 == "region" && $2 == "primary-gpt" {print $4}' "$read_out")
rm -f -- "$disk"
truncate -s "$size" "$disk"
dd if="$gpt" of="$disk" conv=notrunc,sparse status=none
table=$(sfdisk -J "$disk" 2>/dev/null)
awk '$1 == "region" && $2 == "partition" {print $3, $4}' "$read_out" | while read -r n file; do
    start=$(jq ".partitiontable.partitions[] | select(.node | test(\"[^0-9]$n\$\")) | .start" <<< "$table")
    dd if="$file" of="$disk" bs=512 seek="$start" conv=notrunc,sparse status=none
done
sfdisk --relocate gpt-bak-std "$disk" > /dev/null 2>&1
