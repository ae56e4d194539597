#!/usr/bin/env python3
"""An independent COSI reader for the tests: python3's tarfile and hashlib and
the zstd CLI, none of imgrecipe's code. Checks the layout against
alic-reference.md §3.1 and extracts every image decompressed into OUTDIR.

usage: cosi_read.py FILE.cosi OUTDIR
Prints one line per check failure ("bad: ...") and facts for the caller:
  order <names...>
  keys <top-level keys in order>
  region <type> <number|-> <outfile> <uncompressed size>
  image <mountPoint> <fsType> <fsUuid> <partType> <outfile>
  verity <mountPoint> <roothash> <hash outfile> <hashOffset|->
  meta <key>=<value>
  window <path> <window bytes of its zstd frame>
Images are decompressed with the window metadata's compression.maxWindowLog
allows (zstd --long=N), so a frame needing more fails.
"""
import hashlib
import json
import subprocess
import sys
import tarfile
import uuid

path, outdir = sys.argv[1], sys.argv[2]
bad = []


def fail(msg):
    bad.append(msg)
    print("bad: " + msg)


def frame_window(frame):
    """The window size a zstd frame header asks for (RFC 8878 3.1.1.1)."""
    if int.from_bytes(frame[0:4], "little") != 0xFD2FB528:
        fail("no zstd frame after the skippable frame")
        return 0
    fhd = frame[4]
    single_segment = fhd & 0x20
    if not single_segment:
        wd = frame[5]
        base = 1 << (10 + (wd >> 3))
        return base + (base // 8) * (wd & 7)
    # Single segment: the window is the content size, which follows.
    dict_id_size = [0, 1, 2, 4][fhd & 3]
    fcs_size = [1, 2, 4, 8][fhd >> 6]
    at = 5 + dict_id_size
    size = int.from_bytes(frame[at:at + fcs_size], "little")
    return size + 256 if fcs_size == 2 else size


with tarfile.open(path, "r:") as tar:
    members = tar.getmembers()
    names = [m.name for m in members]
    print("order " + " ".join(names))
    if names[:2] != ["cosi-marker", "metadata.json"]:
        fail("the first entries are not cosi-marker, metadata.json")
    marker = members[0]
    if marker.size != 0 or marker.mode != 0o400 or not marker.isreg():
        fail("cosi-marker is not an empty regular file of mode 0400")
    raw = tar.extractfile("metadata.json").read()
    meta = json.loads(raw, object_pairs_hook=lambda pairs: pairs)
    keys = [k for k, _ in meta]
    print("keys " + " ".join(keys))
    meta = json.loads(raw)
    for m in members:
        if not m.isreg() or m.mode != 0o400 or m.uid != 0 or m.gid != 0:
            fail(f"{m.name}: not a regular file 0400 owned by 0:0")
    for k in ("version", "osArch", "osRelease", "id"):
        print(f"meta {k}={json.dumps(meta[k])}")
    print(f"meta bootloader={json.dumps(meta['bootloader'])}")
    print(f"meta packages={len(meta['osPackages'] or [])}")
    print(f"meta disk.size={meta['disk']['size']} lbaSize={meta['disk']['lbaSize']} type={meta['disk']['type']}")
    print(f"meta maxWindowLog={meta['compression']['maxWindowLog']}")
    pkgs = {p["name"]: p for p in meta["osPackages"] or []}
    if "bash" in pkgs:
        p = pkgs["bash"]
        print(f"meta bash={p['version']}|{p['release']}|{p['arch']}")
    image_id = uuid.UUID(meta["id"]).bytes
    max_window_log = meta["compression"]["maxWindowLog"]
    regions = meta["disk"]["gptRegions"]
    if [r["image"]["path"] for r in regions] != names[2:]:
        fail("the images after metadata.json are not the gptRegions in order")

    def check_image(img, out):
        m = tar.getmember(img["path"])
        data = tar.extractfile(m).read()
        if not img["path"].startswith("images/"):
            fail(f"{img['path']}: not under images/")
        if m.size != img["compressedSize"] or len(data) != img["compressedSize"]:
            fail(f"{img['path']}: compressedSize {img['compressedSize']} but the entry has {m.size} bytes")
        if hashlib.sha384(data).hexdigest() != img["sha384"]:
            fail(f"{img['path']}: sha384 differs")
        magic = int.from_bytes(data[0:4], "little")
        size = int.from_bytes(data[4:8], "little")
        if magic != 0x184D2A50 or size != 16 or data[8:24] != image_id:
            fail(f"{img['path']}: no skippable frame with the image id first")
        window = frame_window(data[24:])
        print(f"window {img['path']} {window}")
        if window > 1 << max_window_log:
            fail(f"{img['path']}: its frame needs a {window}-byte window, more than maxWindowLog {max_window_log}")
        r = subprocess.run(["zstd", "-dcqf", f"--long={max_window_log}", "-o", out], input=data)
        if r.returncode != 0:
            fail(f"{img['path']}: zstd -d failed")
            return
        got = int(subprocess.check_output(["stat", "-c", "%s", out]))
        if got != img["uncompressedSize"]:
            fail(f"{img['path']}: uncompressedSize {img['uncompressedSize']} but it decompresses to {got}")

    for r in regions:
        tag = "gpt" if r["type"] == "primary-gpt" else f"p{r['number']}"
        out = f"{outdir}/{tag}.raw"
        check_image(r["image"], out)
        number = r.get("number", "-")
        print(f"region {r['type']} {number} {out} {r['image']['uncompressedSize']}")
    for fs in meta["images"]:
        match = [r for r in regions if r["image"] == fs["image"]]
        if len(match) != 1:
            fail(f"{fs['mountPoint']}: its image is not one of the gptRegions")
            continue
        out = f"{outdir}/p{match[0]['number']}.raw"
        print(f"image {fs['mountPoint']} {fs['fsType']} {fs['fsUuid']} {fs['partType']} {out}")
        if list(fs.keys()) != ["image", "mountPoint", "fsType", "fsUuid", "partType", "verity"]:
            fail(f"{fs['mountPoint']}: fields {list(fs.keys())}")
        v = fs.get("verity")
        if v is None:
            continue
        # COSI spec: {image: ImageFile, roothash}; ALIC adds hashOffset (inline).
        vkeys = list(v.keys())
        if vkeys not in (["image", "roothash"], ["image", "roothash", "hashOffset"]):
            fail(f"{fs['mountPoint']}: verity fields {vkeys}")
        hmatch = [r for r in regions if r["image"] == v["image"]]
        if len(hmatch) != 1:
            fail(f"{fs['mountPoint']}: its verity image is not one of the gptRegions")
            continue
        if len(v["roothash"]) != 64 or any(c not in "0123456789abcdef" for c in v["roothash"]):
            fail(f"{fs['mountPoint']}: roothash {v['roothash']!r} is not sha256 hex")
        hout = f"{outdir}/p{hmatch[0]['number']}.raw"
        if hmatch[0]["number"] != match[0]["number"] and "hashOffset" in v:
            fail(f"{fs['mountPoint']}: hashOffset with a separate hash partition")
        if any(i["image"] == v["image"] for i in meta["images"]) and hmatch[0]["number"] != match[0]["number"]:
            fail(f"{fs['mountPoint']}: its verity hash partition is also listed as a filesystem")
        print(f"verity {fs['mountPoint']} {v['roothash']} {hout} {v.get('hashOffset', '-')}")
sys.exit(1 if bad else 0)
