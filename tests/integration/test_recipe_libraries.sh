#!/usr/bin/env bash
# Recipe libraries (issue 11): the two example recipes that use
# examples/lib/hardening run on the Debian base image, one finding the
# library through --lib-path and one through IMGRECIPE_LIB_PATH; a library
# that is not found, a library needing a newer API, a misspelt option and an
# undeclared global fail with messages naming the recipe's file:line.
set -euo pipefail
source "$(dirname "$0")/../lib/testlib.sh"
image_env debian-base
EX=$TESTS_DIR/../examples
KEY='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleLibraryKey admin@example'

# 1. hardened-server, library found through --lib-path.
"$IMGRECIPE" run "$EX/hardened-server/recipe.lua" --lib-path "$EX/lib" --build-dir "$T_TMP/b1" \
    --param input="$IMG_PATH" --param output="$T_TMP/server.raw" --param admin=ops --param admin_key="$KEY" \
    2> "$T_TMP/server.log" || { cat "$T_TMP/server.log"; t_fail "hardened-server run"; }
check_contains "library logged with its version and file" "$(cat "$T_TMP/server.log")" \
    "library 'hardening' 1.0.0 (API 1) from $(realpath "$EX/lib")/hardening/init.lua"
sshd=$(fs_cat "$T_TMP/server.raw" "$ROOT_OFFSET" /etc/ssh/sshd_config.d/50-hardening.conf)
check_contains "server: AllowUsers" "$sshd" "AllowUsers ops"
check_contains "server: no root login" "$sshd" "PermitRootLogin no"
check_contains "server: no passwords" "$sshd" "PasswordAuthentication no"
check_contains "server: banner" "$sshd" "Banner /etc/issue.net"
check_eq "server: drop-in mode" "0644" "$(fs_mode "$T_TMP/server.raw" "$ROOT_OFFSET" /etc/ssh/sshd_config.d/50-hardening.conf)"
check_contains "server: sysctl" "$(fs_cat "$T_TMP/server.raw" "$ROOT_OFFSET" /etc/sysctl.d/90-hardening.conf)" "kernel.kptr_restrict = 2"
check_contains "server: issue.net" "$(fs_cat "$T_TMP/server.raw" "$ROOT_OFFSET" /etc/issue.net)" "Authorized access only"
check_contains "server: admin account" "$(fs_cat "$T_TMP/server.raw" "$ROOT_OFFSET" /etc/passwd)" "ops:x:"
check_eq "server: admin key" "$KEY" "$(fs_cat "$T_TMP/server.raw" "$ROOT_OFFSET" /home/ops/.ssh/authorized_keys)"

# 2. lab-vm, library found through IMGRECIPE_LIB_PATH, its own motd module
#    from the recipe's directory.
IMGRECIPE_LIB_PATH="/nonexistent:$EX/lib" "$IMGRECIPE" run "$EX/lab-vm/recipe.lua" --build-dir "$T_TMP/b2" \
    --param input="$IMG_PATH" --param output="$T_TMP/lab.raw" --param owner=alice --param hostname=lab-17 \
    2> "$T_TMP/lab.log" || { cat "$T_TMP/lab.log"; t_fail "lab-vm run"; }
sshd=$(fs_cat "$T_TMP/lab.raw" "$ROOT_OFFSET" /etc/ssh/sshd_config.d/50-hardening.conf)
check_contains "lab: port" "$sshd" "Port 2222"
check_contains "lab: passwords" "$sshd" "PasswordAuthentication yes"
check_not_contains "lab: no AllowUsers" "$sshd" "AllowUsers"
check_contains "lab: forwarding" "$(fs_cat "$T_TMP/lab.raw" "$ROOT_OFFSET" /etc/sysctl.d/90-hardening.conf)" "net.ipv4.ip_forward = 1"
check_eq "lab: hostname" "lab-17" "$(fs_cat "$T_TMP/lab.raw" "$ROOT_OFFSET" /etc/hostname)"
check_contains "lab: motd from the recipe's module" "$(fs_cat "$T_TMP/lab.raw" "$ROOT_OFFSET" /etc/motd)" "lab-17: lab machine of alice"

# 3. Failures, each before the image is opened: the message names the
#    recipe's file:line.
fail_run() {  # fail_run RECIPE_TEXT [ARGS...] -> output, exit code in $rc
    local text=$1; shift
    mkdir -p "$T_TMP/bad"
    printf '%s\n' "$text" > "$T_TMP/bad/recipe.lua"
    set +e
    out=$("$IMGRECIPE" run "$T_TMP/bad/recipe.lua" --build-dir "$T_TMP/b3" "$@" 2>&1)
    rc=$?
    set -e
}
fail_run 'local h = require "hardening"
return { name = "x", run = function() end }'
check "missing library fails" test "$rc" -ne 0
check_contains "missing library at the recipe's line" "$out" "$T_TMP/bad/recipe.lua:1: module 'hardening' not found"
check_contains "missing library lists the search path" "$out" "$T_TMP/bad (the recipe's directory)"
check_contains "missing library lists system dirs" "$out" "/usr/share/imgrecipe/lib (system)"

mkdir -p "$T_TMP/newlib"
printf 'return require("imgrecipe").library{ name = "future", version = "2.0.0", api = 2 }\n' > "$T_TMP/newlib/future.lua"
fail_run 'local f = require "future"
return { name = "x", run = function() end }' --lib-path "$T_TMP/newlib"
check "library needing a newer API fails" test "$rc" -ne 0
check_contains "newer API message" "$out" "library 'future' 2.0.0 needs imgrecipe API version 2, this imgrecipe provides API version 1"

fail_run 'return { name = "x", params = { input = { required = true } }, run = function(ctx)
  local img = ctx:open(ctx.params.input)
  img:mount()
  img:write_file("/etc/x", "x", { mdoe = "0600" })
end }' --param input="$IMG_PATH"
check_eq "misspelt option is a usage error" "2" "$rc"
check_contains "misspelt option message" "$out" "$T_TMP/bad/recipe.lua:4: img:write_file: unknown option 'mdoe' (did you mean 'mode'?"

fail_run 'count = 0
return { name = "x", run = function() end }'
check_contains "undeclared global" "$out" "$T_TMP/bad/recipe.lua:1: assignment to undeclared global 'count'"
t_done
