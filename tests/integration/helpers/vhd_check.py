#!/usr/bin/env python3
"""An independent check of a fixed-VHD footer for the tests (none of
imgrecipe's code): the last 512 bytes of FILE against the VHD specification
("Hard Disk Footer Format" and its CHS geometry appendix).

usage: vhd_check.py FILE
Prints "bad: ..." for each problem and facts for the caller:
  size <current size> original <original size> creator <app> geometry <C>/<H>/<S>
Exits 1 if anything is wrong.
"""
import os
import struct
import sys
import time

path = sys.argv[1]
bad = []


def fail(msg):
    bad.append(msg)
    print("bad: " + msg)


def spec_geometry(total):
    total = min(total, 65535 * 16 * 255)
    if total >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cth = total // spt
    else:
        spt = 17
        cth = total // spt
        heads = max((cth + 1023) // 1024, 4)
        if cth >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cth = total // spt
        if cth >= heads * 1024:
            spt, heads = 63, 16
            cth = total // spt
    return cth // heads, heads, spt


file_size = os.path.getsize(path)
with open(path, "rb") as f:
    f.seek(file_size - 512)
    footer = f.read(512)

(cookie, features, version, data_offset, timestamp, creator_app, creator_ver, creator_os, original, current,
 cyls, heads, spt, disk_type, checksum, unique_id, saved_state) = struct.unpack(">8sIIQI4sI4sQQHBBII16sB", footer[:85])
if cookie != b"conectix":
    fail(f"cookie {cookie!r}")
if features != 2:
    fail(f"features {features:#x}, expected 0x2")
if version != 0x00010000:
    fail(f"file format version {version:#x}")
if data_offset != 0xFFFFFFFFFFFFFFFF:
    fail(f"data offset {data_offset:#x}, expected all ones (fixed disk)")
if disk_type != 2:
    fail(f"disk type {disk_type}, expected 2 (fixed)")
if current != file_size - 512:
    fail(f"current size {current}, but the file holds {file_size - 512} bytes before the footer")
if original != current:
    fail(f"original size {original} != current size {current}")
total = sum(footer) - sum(footer[64:68])
if checksum != (~total) & 0xFFFFFFFF:
    fail(f"checksum {checksum:#x}, expected {(~total) & 0xFFFFFFFF:#x}")
if (cyls, heads, spt) != spec_geometry(current // 512):
    fail(f"geometry {cyls}/{heads}/{spt}, the specification gives {'/'.join(map(str, spec_geometry(current // 512)))}")
now = int(time.time()) - 946684800
if not now - 86400 <= timestamp <= now + 60:
    fail(f"timestamp {timestamp} is not about now ({now} seconds since 2000)")
if unique_id == bytes(16):
    fail("unique id is all zeros")
if saved_state != 0 or any(footer[85:]):
    fail("saved state or reserved bytes are not zero")
print(f"size {current} original {original} creator {creator_app.decode(errors='replace')} geometry {cyls}/{heads}/{spt}")
sys.exit(1 if bad else 0)
