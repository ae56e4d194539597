#!/usr/bin/env bash
# imgrecipe build on the debian-base image with the old forms ALIC's ISO page
# still shows (additionalFiles as a source -> destination map, extraCommandLine
# as one string), in a config and in its base config: the files land (sources
# relative to each config file), the kernel arguments reach grub.cfg, and the
# build warns with today's form.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base
BASE=$IMG_PATH
before=$(sha256sum "$BASE" | cut -d' ' -f1)
loops0=$(all_loops)

cfg=$T_TMP/cfg
mkdir -p "$cfg/files" "$cfg/base/files"
printf 'from top\n' > "$cfg/files/a.txt"
printf 'multi\n' > "$cfg/files/c.txt"
printf 'from base\n' > "$cfg/base/files/a.txt"
cat > "$cfg/base/base.yaml" <<'YAML'
os:
  additionalFiles:
    files/a.txt: /etc/old-forms/base.txt
  kernelCommandLine:
    extraCommandLine: old.base=1
YAML
cat > "$cfg/config.yaml" <<YAML
previewFeatures: [base-configs]
baseConfigs: [{path: base/base.yaml}]
input:
  image:
    path: $BASE
os:
  additionalFiles:
    files/a.txt: /etc/old-forms/top.txt
    files/c.txt:
    - /etc/old-forms/c1.txt
    - path: /etc/old-forms/c2.txt
      permissions: "600"
  kernelCommandLine:
    extraCommandLine: "old.top=1  'old.quoted=yes' dyndbg=\"file a.c +p\""
output:
  image:
    path: $T_TMP/out.raw
    format: raw
YAML

set +e
out=$("$IMGRECIPE" build "$cfg/config.yaml" --build-dir "$T_TMP/build" 2>&1)
rc=$?
set -e
echo "$out" | tail -30
check_eq "build exits 0" 0 "$rc"
check_eq "input unchanged" "$before" "$(sha256sum "$BASE" | cut -d' ' -f1)"
check_eq "no loop device left" "$loops0" "$(all_loops)"
check_eq "run directory removed" "" "$(ls "$T_TMP/build" 2>/dev/null)"
check_contains "map warning shows the list form" "$out" "$cfg/config.yaml:7:3: os.additionalFiles as a map is an old form: write
    additionalFiles:
    - source: files/a.txt
      destination: /etc/old-forms/top.txt
    - source: files/c.txt
      destination: /etc/old-forms/c1.txt
    - source: files/c.txt
      destination: /etc/old-forms/c2.txt
      permissions: \"600\""
check_contains "string warning shows the list form" "$out" "$cfg/config.yaml:14:5: os.kernelCommandLine.extraCommandLine as a single string is an old form: write
    extraCommandLine:
    - old.top=1
    - old.quoted=yes
    - dyndbg=\"file a.c +p\""
check_contains "base config warned too" "$out" "$cfg/base/base.yaml:2:3: os.additionalFiles as a map is an old form"

O=$T_TMP/out.raw
check_eq "map file from the config's dir" "from top" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/old-forms/top.txt)"
check_eq "map file from the base config's dir" "from base" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/old-forms/base.txt)"
check_eq "first of two destinations" "multi" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/old-forms/c1.txt)"
check_eq "second destination" "multi" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/old-forms/c2.txt)"
check_eq "{path, permissions} mode" "0600" "$(fs_mode "$O" "$ROOT_OFFSET" /etc/old-forms/c2.txt)"
grub=$(fs_cat "$O" "$ROOT_OFFSET" /boot/grub/grub.cfg)
check_contains "string arguments in grub.cfg, base first" "$grub" \
    "console=ttyS0,115200n8 old.base=1 old.top=1 old.quoted=yes dyndbg=\"file a.c +p\""
check "root fs clean" e2fsck -fn "$O?offset=$ROOT_OFFSET" >/dev/null 2>&1

# A bad old form fails before anything is touched, with file:line:col.
cat > "$cfg/bad.yaml" <<YAML
input: {image: {path: $BASE}}
os:
  additionalFiles:
    files/a.txt: ""
output: {image: {path: $T_TMP/bad.raw, format: raw}}
YAML
set +e
out=$("$IMGRECIPE" build "$cfg/bad.yaml" --build-dir "$T_TMP/build" 2>&1)
rc=$?
set -e
check_eq "bad old form exits 1" 1 "$rc"
check_contains "bad old form named" "$out" "$cfg/bad.yaml:4:18: os.additionalFiles.files/a.txt: the destination path must not be empty"
check "no output for the bad config" test ! -e "$T_TMP/bad.raw"
check_eq "no loop device left after the error" "$loops0" "$(all_loops)"
t_done
