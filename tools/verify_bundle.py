#!/usr/bin/env python3
"""An independent verifier of pledger export bundles, written from docs/format.md alone.

It needs Python 3.9+, `blake3` and `cryptography` (pip install blake3 cryptography), and no
part of pledger. It checks what an auditor must not take on trust:

  * every entry: its place in the log, its DSSE envelope, its Ed25519 signature under the key
    that the log's own earlier entries say the signer held and had not revoked;
  * the blake3 Merkle tree (RFC 9162 shape) over the entry lines, at every checkpoint's size;
  * every checkpoint: a C2SP signed note by the log key of its size;
  * optionally, that the log key is the one you trust (--log-key VKEY).

The business rules of docs/format.md §3 (who may pledge, attest, withdraw how much) are pledger's
`verify`; this script is the second, independent check of the cryptographic layer beneath them.

Usage: verify_bundle.py BUNDLE [--log-key VKEY]    exit 0 verified, 1 not, 2 usage
"""

import base64
import hashlib
import json
import sys

import blake3
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PAYLOAD_TYPE = "application/vnd.pledger.event+json"


class Bad(Exception):
    pass


def H(data: bytes) -> bytes:
    return blake3.blake3(data).digest()


def leaf_hash(line: bytes) -> bytes:
    return H(b"\x00" + line)


def node_hash(left: bytes, right: bytes) -> bytes:
    return H(b"\x01" + left + right)


def mth(leaves):
    """RFC 9162 §2.1.1 over leaf hashes."""
    n = len(leaves)
    if n == 0:
        return H(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def pae(payload_type: bytes, payload: bytes) -> bytes:
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(payload), payload)


def verify_ed25519(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


def key_id(public_key: bytes) -> str:
    return blake3.blake3(public_key).hexdigest()[:32]


def note_key_hash(name: str, sig_type: int, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def open_checkpoint(note: str, origin: str, log_key: bytes):
    """Parses a C2SP checkpoint and checks the log key's Ed25519 note signature."""
    split = note.rfind("\n\n")
    if split < 0:
        raise Bad("checkpoint has no signature block")
    text, sigs = note[: split + 1], note[split + 2 :]
    lines = text[:-1].split("\n")
    if len(lines) != 3 or lines[0] != origin:
        raise Bad("checkpoint text is not origin, size, root")
    size, root = int(lines[1]), base64.b64decode(lines[2])
    want = note_key_hash(origin, 0x01, log_key)
    for line in sigs.splitlines():
        if not line.startswith("\u2014 "):
            raise Bad("bad signature line in checkpoint")
        name, b64 = line[2:].split(" ", 1)
        raw = base64.b64decode(b64)
        if name == origin and raw[:4] == want:
            if not verify_ed25519(log_key, text.encode(), raw[4:]):
                raise Bad(f"checkpoint of size {size}: the log key's signature does not verify")
            return size, root
    raise Bad(f"checkpoint of size {size} is not signed by the log key")


def verify(path: str, trusted_log_key=None) -> str:
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    header = json.loads(lines[0])
    if header.get("bundle") != "pledger-bundle/v1":
        raise Bad("not a pledger-bundle/v1 file")
    origin, size = header["origin"], header["size"]
    entries = lines[1 : 1 + size]
    if len(entries) < size or len(lines) != size + 2:
        raise Bad(f"bundle promises {size} entries and has {len(lines) - 2}")
    wanted = {}
    for note in header["checkpoints"]:
        wanted[int(note.split("\n")[1])] = note

    keys = {}  # key id -> {member, public_key, revoked}
    log_key = None
    event_ids = set()
    leaves = []
    checked = 0
    for seq, line in enumerate(entries):
        entry = json.loads(line)
        if entry["seq"] != seq:
            raise Bad(f"entry {seq}: numbered {entry['seq']}: entries dropped, added or reordered")
        env = entry["envelope"]
        if env["payloadType"] != PAYLOAD_TYPE or len(env["signatures"]) != 1:
            raise Bad(f"entry {seq}: not a pledger envelope")
        payload = base64.b64decode(env["payload"])
        event = json.loads(payload)
        body = event["body"]
        if event["origin"] != origin:
            raise Bad(f"entry {seq}: event is for another ledger")
        if event["id"] in event_ids:
            raise Bad(f"entry {seq}: duplicate event id")
        event_ids.add(event["id"])
        sig = env["signatures"][0]
        if sig["keyid"] != event["key"]:
            raise Bad(f"entry {seq}: envelope and event name different keys")
        if seq == 0:
            if event["kind"] != "genesis":
                raise Bad("entry 0 is not a genesis")
            signer_key = base64.b64decode(body["public_key"])
            if key_id(signer_key) != event["key"] or body["member"] != event["signer"]:
                raise Bad("entry 0: genesis is not self-signed by its convener")
        else:
            if event["kind"] == "genesis":
                raise Bad(f"entry {seq}: a second genesis")
            k = keys.get(event["key"])
            if k is None or k["member"] != event["signer"]:
                raise Bad(f"entry {seq}: key {event['key']} is not a key of {event['signer']}")
            if k["revoked"] is not None and seq > k["revoked"]:
                raise Bad(f"entry {seq}: key {event['key']} was revoked at entry {k['revoked']}")
            signer_key = k["public_key"]
        if not verify_ed25519(signer_key, pae(PAYLOAD_TYPE.encode(), payload), base64.b64decode(sig["sig"])):
            raise Bad(f"entry {seq}: bad signature")
        # The keys this entry adds or revokes, for the entries after it.
        kind = event["kind"]
        if kind == "genesis":
            for pk in {body["public_key"], body["log_key"]}:
                raw = base64.b64decode(pk)
                keys[key_id(raw)] = {"member": body["member"], "public_key": raw, "revoked": None}
            log_key = base64.b64decode(body["log_key"])
        elif kind in ("member-admitted", "key-added"):
            raw = base64.b64decode(body["public_key"])
            if key_id(raw) in keys:
                raise Bad(f"entry {seq}: key registered twice")
            keys[key_id(raw)] = {"member": body["member"], "public_key": raw, "revoked": None}
            if kind == "key-added" and body.get("log"):
                log_key = raw
        elif kind == "key-revoked":
            k = keys.get(body["key"])
            if k is None or k["member"] != body["member"]:
                raise Bad(f"entry {seq}: revokes a key the member does not hold")
            k["revoked"] = seq
        leaves.append(leaf_hash(line))
        if seq + 1 in wanted:
            cp_size, cp_root = open_checkpoint(wanted[seq + 1], origin, log_key)
            if cp_root != mth(leaves):
                raise Bad(f"checkpoint of size {cp_size}: the entries do not hash to its root")
            checked += 1
    if checked != len(wanted) or size not in wanted:
        raise Bad("a checkpoint is not at a size of the bundle")
    if trusted_log_key is not None and trusted_log_key != log_key:
        raise Bad("the bundle's log key is not the one you trust")
    recorded_keys = json.loads(lines[-1])["keys"]
    if sorted((k["key"], k["member"]) for k in recorded_keys) != sorted((i, k["member"]) for i, k in keys.items()):
        raise Bad("the key list differs from the keys the entries record")
    return f"verified {size} entries of {origin}; root {base64.b64encode(mth(leaves)).decode()}"


def parse_vkey(vkey: str) -> bytes:
    name, kid, b64 = vkey.split("+", 2)
    raw = base64.b64decode(b64)
    if raw[0] != 0x01 or note_key_hash(name, 1, raw[1:]).hex() != kid:
        raise Bad("bad log verifier key")
    return raw[1:]


def main(argv) -> int:
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--log-key"):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    try:
        trusted = parse_vkey(argv[3]) if len(argv) == 4 else None
        print(verify(argv[1], trusted))
        return 0
    except (Bad, ValueError, KeyError, TypeError, IndexError) as e:
        print(f"verify_bundle: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
