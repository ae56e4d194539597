#!/usr/bin/python3
"""Checks `imgrecipe inspect --json` output (stdin) against expected values.

inspect_check.py KEY=VALUE...: hostname, kernel, user (name:uid), package
(a dpkg/rpm name), cmdline (a substring), root_uuid, esp_uuid, format,
table (gpt|none), bootloader, init. Prints one "ok"/"FAIL" line per check
and exits 1 if any failed.
"""
import json
import sys

d = json.load(sys.stdin)
want = dict(a.split("=", 1) for a in sys.argv[1:])
os_ = d.get("os") or {}
bad = 0


def check(name, ok, got):
    global bad
    print(("ok   " if ok else "FAIL ") + f"{name}" + ("" if ok else f": got {got!r}"))
    bad += 0 if ok else 1


# The documented top-level fields are all there.
check("fields", set(d) >= {"image", "partition_table", "filesystems", "os", "notes"}, sorted(d))
for k, v in want.items():
    if k == "hostname":
        check(k, os_.get("hostname") == v, os_.get("hostname"))
    elif k == "kernel":
        check(k, v in os_.get("kernels", []), os_.get("kernels"))
    elif k == "user":
        name, uid = v.split(":")
        users = {u["name"]: u for u in os_.get("users", [])}
        check(k, name in users and users[name]["uid"] == int(uid), users.get(name))
    elif k == "package":
        pk = {p["name"]: p for p in os_.get("packages", [])}
        check(k, v in pk and pk[v]["version"] != "", pk.get(v))
    elif k == "cmdline":
        check(k, v in os_.get("cmdline", ""), os_.get("cmdline"))
    elif k in ("root_uuid", "esp_uuid"):
        mp = "/" if k == "root_uuid" else "/boot/efi"
        fss = [f for f in d["filesystems"] if f["mount_point"] == mp]
        check(k, len(fss) == 1 and fss[0]["uuid"].lower() == v.lower(), fss)
        if fss:
            f = fss[0]
            check(f"{mp} size and used", f["size"] and f["used"] and 0 < f["used"] < f["size"], (f["size"], f["used"]))
    elif k == "format":
        check(k, d["image"]["format"] == v, d["image"])
    elif k == "table":
        t = d["partition_table"]
        check(k, (t is None and v == "none") or (t is not None and t["type"] == v), t)
    elif k == "partitions":
        check(k, len((d["partition_table"] or {}).get("partitions", [])) == int(v), d["partition_table"])
    elif k == "bootloader":
        check(k, os_.get("bootloader") == v, os_.get("bootloader"))
    elif k == "init":
        check(k, os_.get("init") == v, os_.get("init"))
    elif k == "os_id":
        check(k, os_.get("os_release", {}).get("ID") == v, os_.get("os_release"))
    elif k == "package_format":
        check(k, os_.get("package_format") == v, os_.get("package_format"))
    else:
        check(f"unknown key {k}", False, v)
sys.exit(1 if bad else 0)
