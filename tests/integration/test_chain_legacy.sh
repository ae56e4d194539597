#!/usr/bin/env bash
# imgrecipe build through a baseConfigs chain (two levels, each with its own
# directory) and with a legacy `SystemConfig:` config, on the tiny image:
# per-config steps run base first, relative paths resolve against each
# config's own directory, last config wins for the hostname, kernel arguments
# merge; the legacy config builds the same things and warns how to write it.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env tiny
BASE=$IMG_PATH
loops0=$(all_loops)

# --- 1. baseConfigs chain: top.yaml -> mid/mid.yaml -> mid/base/base.yaml ---
cfg=$T_TMP/chain
mkdir -p "$cfg/files" "$cfg/mid/files" "$cfg/mid/base/files"
printf 'from base\n' > "$cfg/mid/base/files/note.txt"
printf 'from mid\n' > "$cfg/mid/files/note.txt"
printf 'from top\n' > "$cfg/files/note.txt"
cat > "$cfg/mid/base/base.yaml" <<'YAML'
os:
  hostname: base-host
  kernelCommandLine:
    extraCommandLine: [chain.base=1]
  additionalFiles:
    - source: files/note.txt
      destination: /etc/chain/base.txt
    - content: "base\n"
      destination: /etc/chain/order.txt
scripts:
  postCustomization:
    - content: echo base >> /etc/chain/scripts.txt
YAML
cat > "$cfg/mid/mid.yaml" <<'YAML'
previewFeatures: [base-configs]
baseConfigs:
  - path: base/base.yaml
os:
  hostname: mid-host
  additionalFiles:
    - source: files/note.txt
      destination: /etc/chain/mid.txt
    - content: "mid\n"
      destination: /etc/chain/order.txt
scripts:
  postCustomization:
    - content: echo mid >> /etc/chain/scripts.txt
YAML
cat > "$cfg/top.yaml" <<YAML
previewFeatures: [base-configs]
baseConfigs:
  - path: mid/mid.yaml
input:
  image:
    path: $BASE
os:
  hostname: top-host
  kernelCommandLine:
    extraCommandLine: [chain.top=1]
  additionalFiles:
    - source: files/note.txt
      destination: /etc/chain/top.txt
scripts:
  postCustomization:
    - content: echo top >> /etc/chain/scripts.txt
output:
  image:
    path: $T_TMP/chain.raw
    format: raw
YAML
if "$IMGRECIPE" build "$cfg/top.yaml" --build-dir "$T_TMP/build" > "$T_TMP/chain.log" 2>&1; then
    t_pass "chain build"
else
    t_fail "chain build"; tail -20 "$T_TMP/chain.log"; t_done
fi
O=$T_TMP/chain.raw
check_eq "last config wins: hostname" "top-host" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/hostname)"
check_eq "base file from the base config's dir" "from base" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/chain/base.txt)"
check_eq "mid file from the mid config's dir" "from mid" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/chain/mid.txt)"
check_eq "top file from the top config's dir" "from top" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/chain/top.txt)"
check_eq "files applied base first" "mid" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/chain/order.txt)"
check_eq "scripts run per config, base first" "base mid top" \
    "$(fs_cat "$O" "$ROOT_OFFSET" /etc/chain/scripts.txt | tr '\n' ' ' | sed 's/ $//')"
grub=$(fs_cat "$O" "$ROOT_OFFSET" /boot/grub/grub.cfg)
check_contains "kernel args merged: base" "$grub" "chain.base=1"
check_contains "kernel args merged: top" "$grub" "chain.top=1"

# A chain without the preview feature is refused before anything runs.
sed -i '/^previewFeatures/d' "$cfg/top.yaml" "$cfg/mid/mid.yaml"
if "$IMGRECIPE" build "$cfg/top.yaml" --build-dir "$T_TMP/build" > "$T_TMP/nopreview.log" 2>&1; then
    t_fail "chain without base-configs preview accepted"
else
    check_contains "preview gate names the feature" "$(cat "$T_TMP/nopreview.log")" "'base-configs' preview feature"
fi

# --- 2. legacy SystemConfig ---
legacy=$T_TMP/legacy
mkdir -p "$legacy/files" "$legacy/scripts"
printf 'legacy file\n' > "$legacy/files/a.txt"
printf '#!/bin/sh\necho "legacy post $*" > /etc/legacy-post\n' > "$legacy/scripts/post.sh"
cat > "$legacy/config.yaml" <<'YAML'
SystemConfig:
  Hostname: legacy-host
  AdditionalFiles:
    files/a.txt: /etc/legacy/a.txt
  KernelCommandLine:
    ExtraCommandLine: legacy.one=1 legacy.two=2
  Modules:
    Load:
      - Name: loop
  PostInstallScripts:
    - Path: scripts/post.sh
      Args: x y
YAML
if "$IMGRECIPE" build "$legacy/config.yaml" --image-file "$BASE" --output-image-file "$T_TMP/legacy.raw" \
        --output-image-format raw --build-dir "$T_TMP/build" > "$T_TMP/legacy.log" 2>&1; then
    t_pass "legacy build"
else
    t_fail "legacy build"; tail -20 "$T_TMP/legacy.log"; t_done
fi
O=$T_TMP/legacy.raw
log=$(cat "$T_TMP/legacy.log")
check_contains "legacy warning says how to write it today" "$log" "SystemConfig.Hostname is the legacy schema: write os.hostname"
check_eq "legacy hostname" "legacy-host" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/hostname)"
check_eq "legacy additional file" "legacy file" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/legacy/a.txt)"
check_eq "legacy post-install script with args" "legacy post x y" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/legacy-post)"
check_contains "legacy module load" "$(fs_cat "$O" "$ROOT_OFFSET" /etc/modules-load.d/modules-load.conf)" "loop"
grub=$(fs_cat "$O" "$ROOT_OFFSET" /boot/grub/grub.cfg)
check_contains "legacy kernel args split" "$grub" "legacy.one=1 legacy.two=2"

check_eq "no loop device left" "$loops0" "$(all_loops)"
t_done
