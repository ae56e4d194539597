#!/usr/bin/env python3
"""ovmf_add_mok.py — enroll X.509 certificates as shim MOKs in a copy of an OVMF variable store.

Usage: ovmf_add_mok.py IN_VARS.fd OUT_VARS.fd CERT.der [CERT.der ...]

Writes OUT_VARS.fd: IN_VARS.fd plus one non-volatile variable MokList
(shim's GUID 605dab50-e046-4300-abb6-3dd810dd8b23, attributes NV|BS, one
EFI_SIGNATURE_LIST of type X.509 per certificate), as `mokutil --import`
and MokManager leave it on a real machine. Shim then mirrors it to
MokListRT and to its MOK configuration table; with no MokListTrusted
variable (shim's default, what `mokutil --trust-mok` leaves) it also
publishes MokListTrustedRT, and a kernel with CONFIG_INTEGRITY_MACHINE_KEYRING
booted with Secure Boot on loads the certificates into its .machine keyring
(linked into .secondary_trusted_keys).

Limits: only the authenticated-variable store OVMF uses (EDK2 firmware
volume with gEfiAuthenticatedVariableGuid, 60-byte variable headers); the
record is appended after the last variable in the store, so the store must
have room (it is never reclaimed here); no existing MokList may be present
(refused); IN_VARS.fd is only read. For tests: no time-based
authentication is involved (MokList is not an authenticated variable).
"""
import struct
import sys
import uuid

FVH_SIGNATURE = b"_FVH"
AUTH_VARSTORE_GUID = uuid.UUID("aaf32c78-947b-439a-a180-2e144ec37792").bytes_le
SHIM_LOCK_GUID = uuid.UUID("605dab50-e046-4300-abb6-3dd810dd8b23").bytes_le
CERT_X509_GUID = uuid.UUID("a5c059a1-94e4-4aa7-87b5-ab155c2bf072").bytes_le
START_ID = 0x55AA
VAR_ADDED = 0x3F
VAR_IN_DELETED_TRANSITION = 0xFE
NV_BS = 0x1 | 0x2  # EFI_VARIABLE_NON_VOLATILE | EFI_VARIABLE_BOOTSERVICE_ACCESS
# StartId, State, Reserved, Attributes, MonotonicCount, TimeStamp, PubKeyIndex, NameSize, DataSize, VendorGuid
AUTH_HDR = struct.Struct("<HBBIQ16sIII16s")


def die(msg):
    sys.stderr.write("ovmf_add_mok.py: %s\n" % msg)
    sys.exit(1)


def align4(n):
    return (n + 3) & ~3


def signature_list(der):
    # EFI_SIGNATURE_LIST (type, list size, header size 0, signature size) + one EFI_SIGNATURE_DATA (owner, cert).
    sig_size = 16 + len(der)
    return CERT_X509_GUID + struct.pack("<III", 28 + sig_size, 0, sig_size) + SHIM_LOCK_GUID + der


def main(argv):
    if len(argv) < 4:
        die("usage: ovmf_add_mok.py IN_VARS.fd OUT_VARS.fd CERT.der [CERT.der ...]")
    src, dst, certs = argv[1], argv[2], argv[3:]
    img = bytearray(open(src, "rb").read())
    if img[40:44] != FVH_SIGNATURE:
        die("%s: not a firmware volume (no _FVH signature)" % src)
    fv_hdr_len = struct.unpack_from("<H", img, 48)[0]
    store = fv_hdr_len
    if bytes(img[store:store + 16]) != AUTH_VARSTORE_GUID:
        die("%s: the variable store is not in the authenticated format" % src)
    store_size = struct.unpack_from("<I", img, store + 16)[0]
    store_end = store + store_size
    pos = align4(store + 28)
    while pos + AUTH_HDR.size <= store_end:
        start_id, state, _, _, _, _, _, name_size, data_size, guid = AUTH_HDR.unpack_from(img, pos)
        if start_id != START_ID:
            break
        name = bytes(img[pos + AUTH_HDR.size:pos + AUTH_HDR.size + name_size]).decode("utf-16-le").rstrip("\0")
        if name == "MokList" and guid == SHIM_LOCK_GUID and state in (VAR_ADDED, VAR_ADDED & VAR_IN_DELETED_TRANSITION):
            die("%s already has a MokList" % src)
        pos = align4(pos + AUTH_HDR.size + name_size + data_size)
    data = b"".join(signature_list(open(c, "rb").read()) for c in certs)
    name = "MokList\0".encode("utf-16-le")
    record = AUTH_HDR.pack(START_ID, VAR_ADDED, 0, NV_BS, 0, bytes(16), 0, len(name), len(data), SHIM_LOCK_GUID) + name + data
    if pos + len(record) > store_end or any(b != 0xFF for b in img[pos:pos + len(record)]):
        die("%s: no free space for %d bytes at offset %#x" % (src, len(record), pos))
    img[pos:pos + len(record)] = record
    with open(dst, "wb") as f:
        f.write(img)


if __name__ == "__main__":
    main(sys.argv)
