#!/usr/bin/env python3
"""An independent verifier of pledger export bundles, written from docs/format.md alone.

It needs Python 3.9+, `blake3` and `cryptography` (pip install blake3 cryptography), and no
part of pledger. It checks what an auditor must not take on trust:

  * the file: UTF-8 without a byte-order mark, a header of exactly its four fields, checkpoints
    listed oldest first, each size once, the last of the bundle's size;
  * every entry: its place in the log, its exact fields, its recording time (UTC, milliseconds,
    never decreasing), its DSSE envelope (exact fields, base64 in one spelling), its event's
    exact fields, identifiers, dates, texts and amounts (format.md §1, §3, §4), the signing time
    at most 5 minutes after the recording time;
  * keys and authority: every key an entry adds is not of small order and belongs to one member;
    who may admit members, add and revoke keys and name the log key (conveners, or the member
    itself), never the current log key revoked nor the conveners' last live key; each signature
    under a key the signer held and had not revoked, checked by Ed25519 with what RFC 8032's
    check lacks (a small-order R or key, an S not below the group order, refused);
  * the blake3 Merkle tree (RFC 9162 shape) over the entry lines, at every checkpoint's size;
  * every checkpoint: a C2SP signed note by the log key of its size;
  * the key list: exactly the keys the entries record, with when each was added and revoked;
  * optionally, that the log key is the one you trust (--log-key VKEY), or one it vouched for
    through rotations each signed by the log key they replaced.

The business rules of docs/format.md §3 beyond keys and authority (who may pledge, attest,
withdraw how much) are pledger's `verify`; this script is the second, independent check of the
layer beneath them.

Usage: verify_bundle.py BUNDLE [--log-key VKEY]    exit 0 verified, 1 not, 2 usage
"""

import base64
import binascii
import datetime
import hashlib
import json
import re
import sys

import blake3
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PAYLOAD_TYPE = "application/vnd.pledger.event+json"
MAX_ENTRY_BYTES = 65535
MAX_EVENT_BYTES = 48000
MAX_VALUE = 2**53 - 1
CLOCK_SKEW = datetime.timedelta(seconds=300)


class Bad(Exception):
    pass


# --- Ed25519 arithmetic, for what RFC 8032's check (OpenSSL's) does not refuse -------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _decode_point(b: bytes):
    """The point of a 32-byte encoding, or None when it encodes none (y not below p included)."""
    if len(b) != 32:
        return None
    y = int.from_bytes(b, "little") & ((1 << 255) - 1)
    sign = b[31] >> 7
    if y >= P:
        return None
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = (u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P)) % P
    if (v * x * x - u) % P != 0:
        x = (x * SQRT_M1) % P
        if (v * x * x - u) % P != 0:
            return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, (x * y) % P)


def _add(p, q):
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * D * t1 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def small_order(b: bytes) -> bool:
    """Whether `b` encodes a point of small order (8·P is the identity), or no point at all."""
    p = _decode_point(b)
    if p is None:
        return True
    for _ in range(3):
        p = _add(p, p)
    x, y, z, _ = p
    return x % P == 0 and (y - z) % P == 0


def verify_ed25519(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 through OpenSSL, with the key, R and S conditions of format.md §5 added."""
    if len(signature) != 64 or small_order(public_key) or small_order(signature[:32]):
        return False
    if int.from_bytes(signature[32:], "little") >= L:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


# --- Hashes and notes ---------------------------------------------------------------------


def H(data: bytes) -> bytes:
    return blake3.blake3(data).digest()


def leaf_hash(line: bytes) -> bytes:
    return H(b"\x00" + line)


def node_hash(left: bytes, right: bytes) -> bytes:
    return H(b"\x01" + left + right)


class Frontier:
    """The Merkle tree's right edge: its root at any size, from the leaves pushed so far."""

    def __init__(self):
        self.peaks = []  # (height, hash), largest first

    def push(self, leaf: bytes):
        h, node = 0, leaf
        while self.peaks and self.peaks[-1][0] == h:
            _, left = self.peaks.pop()
            node, h = node_hash(left, node), h + 1
        self.peaks.append((h, node))

    def root(self) -> bytes:
        if not self.peaks:
            return H(b"")
        node = self.peaks[-1][1]
        for _, left in reversed(self.peaks[:-1]):
            node = node_hash(left, node)
        return node


def pae(payload_type: bytes, payload: bytes) -> bytes:
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(payload), payload)


def key_id(public_key: bytes) -> str:
    return blake3.blake3(public_key).hexdigest()[:32]


def note_key_hash(name: str, sig_type: int, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def b64(text, what: str) -> bytes:
    """Standard or URL-safe base64, padded, with the unused bits zero: one spelling per bytes."""
    if not isinstance(text, str):
        raise Bad(f"{what} is not a string")
    for alt in (None, b"-_"):
        try:
            raw = base64.b64decode(text.encode(), altchars=alt, validate=True)
        except (binascii.Error, ValueError):
            continue
        again = base64.b64encode(raw, altchars=alt).decode()
        if again == text:
            return raw
    raise Bad(f"{what} is not base64 in one of its spellings")


def strict_json(data, what: str):
    """JSON with no duplicate field anywhere."""

    def pairs(items):
        obj = {}
        for k, v in items:
            if k in obj:
                raise Bad(f"{what}: field {k!r} appears twice")
            obj[k] = v
        return obj

    try:
        return json.loads(data, object_pairs_hook=pairs)
    except (ValueError, UnicodeDecodeError) as e:
        if isinstance(e, Bad):
            raise
        raise Bad(f"{what}: malformed JSON ({e})")


def exact(obj, required, optional, what: str):
    if not isinstance(obj, dict):
        raise Bad(f"{what} is not an object")
    missing = [f for f in required if f not in obj]
    unknown = [f for f in obj if f not in required and f not in optional]
    if missing:
        raise Bad(f"{what} lacks {', '.join(missing)}")
    if unknown:
        raise Bad(f"{what} has unknown field {unknown[0]!r}")


def open_checkpoint(note: str, origin: str, log_key: bytes):
    """Parses a C2SP checkpoint and checks the log key's Ed25519 note signature."""
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise Bad("checkpoint has no signature block")
    text, sigs = note[: split + 1], note[split + 2 :]
    lines = text[:-1].split("\n")
    if len(lines) != 3 or lines[0] != origin or not re.fullmatch(r"[1-9][0-9]*", lines[1]):
        raise Bad("checkpoint text is not origin, size, root")
    size, root = int(lines[1]), b64(lines[2], "checkpoint root")
    want = note_key_hash(origin, 0x01, log_key)
    for line in sigs[:-1].split("\n"):
        if not line.startswith("\u2014 ") or " " not in line[2:]:
            raise Bad("bad signature line in checkpoint")
        name, sig = line[2:].split(" ", 1)
        raw = b64(sig, "checkpoint signature")
        if name == origin and raw[:4] == want:
            if not verify_ed25519(log_key, text.encode(), raw[4:]):
                raise Bad(f"checkpoint of size {size}: the log key's signature does not verify")
            return size, root
    raise Bad(f"checkpoint of size {size} is not signed by the log key")


# --- The syntax of format.md §1, §3, §4 ----------------------------------------------------

MEMBER = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
AREA = re.compile(r"[A-Za-z0-9._-]{1,64}")
HEX32 = re.compile(r"[0-9a-f]{32}")
SHORT = re.compile(r"([PpFf])-([0-9]{1,19})")
RECORDED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
SIGNED = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
KINDS = {"government", "donor", "implementer", "auditor", "other"}
LEVELS = {"country", "region", "district", "facility"}
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def date(text, what):
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise Bad(f"{what} is not a date YYYY-MM-DD")
    try:
        d = datetime.date.fromisoformat(text)
    except ValueError:
        raise Bad(f"{what} {text} is not a calendar date")
    if not 1900 <= d.year <= 2999:
        raise Bad(f"{what} {text} is not between 1900 and 2999")
    return d


def text(value, what, lo, hi, multiline=False):
    if not isinstance(value, str) or not lo <= len(value) <= hi or value != value.strip():
        raise Bad(f"{what} is not {lo}-{hi} characters without outer spaces")
    bad = CONTROL.findall(value)
    if any(c not in "\n\t" or not multiline for c in bad):
        raise Bad(f"{what} holds a control character")


def ident(value, pattern, what):
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise Bad(f"{what} {value!r} is not a valid identifier")


def short(value, letter, what):
    m = SHORT.fullmatch(value) if isinstance(value, str) else None
    if not m or m.group(1).upper() != letter or int(m.group(2)) == 0:
        raise Bad(f"{what} {value!r} is not a {letter}- id")


def measure(value, what):
    if not isinstance(value, dict):
        raise Bad(f"{what} is not a measure")
    if "minor" in value:
        exact(value, ["minor", "currency"], [], what)
        n, unit = value["minor"], value["currency"]
        if not isinstance(unit, str) or not re.fullmatch(r"[A-Z]{3}", unit):
            raise Bad(f"{what}: currency {unit!r} is not an ISO 4217 code")
    else:
        exact(value, ["count", "unit"], [], what)
        n, unit = value["count"], value["unit"]
        text(unit, f"{what}: unit", 1, 40)
    if type(n) is not int or not 1 <= n <= MAX_VALUE:
        raise Bad(f"{what}: {n!r} is not a whole number from 1 to 2^53 - 1")
    return unit, n


def public_key(value, what):
    raw = b64(value, what)
    if len(raw) != 32:
        raise Bad(f"{what} is not 32 bytes")
    if small_order(raw):
        raise Bad(f"{what} is a weak key (of small order)")
    return raw


def check_body(kind, body, what):
    """The fields of each kind, their types and syntax (format.md §3)."""
    if kind == "genesis":
        exact(body, ["member", "name", "kind", "public_key", "log_key"], [], what)
        ident(body["member"], MEMBER, f"{what}: member")
        text(body["name"], f"{what}: name", 1, 200)
        if body["kind"] not in KINDS:
            raise Bad(f"{what}: kind {body['kind']!r}")
    elif kind == "member-admitted":
        exact(body, ["member", "name", "kind", "convener", "public_key"], ["iati_orgs"], what)
        ident(body["member"], MEMBER, f"{what}: member")
        text(body["name"], f"{what}: name", 1, 200)
        if body["kind"] not in KINDS or type(body["convener"]) is not bool:
            raise Bad(f"{what}: kind or convener")
        orgs = body.get("iati_orgs", [])
        if not isinstance(orgs, list) or len(set(map(str, orgs))) != len(orgs):
            raise Bad(f"{what}: iati_orgs")
        for o in orgs:
            text(o, f"{what}: IATI organisation", 1, 150)
    elif kind == "key-added":
        exact(body, ["member", "public_key"], ["log"], what)
        ident(body["member"], MEMBER, f"{what}: member")
        if "log" in body and type(body["log"]) is not bool:
            raise Bad(f"{what}: log is not a boolean")
    elif kind == "key-revoked":
        exact(body, ["member", "key"], ["reason"], what)
        ident(body["member"], MEMBER, f"{what}: member")
        ident(body["key"], HEX32, f"{what}: key")
        if "reason" in body:
            text(body["reason"], f"{what}: reason", 0, 4000, True)
    elif kind == "area-defined":
        exact(body, ["code", "name", "level"], ["parent"], what)
        ident(body["code"], AREA, f"{what}: code")
        text(body["name"], f"{what}: name", 1, 200)
        if body["level"] not in LEVELS:
            raise Bad(f"{what}: level {body['level']!r}")
        if "parent" in body:
            ident(body["parent"], AREA, f"{what}: parent")
    elif kind == "category-defined":
        exact(body, ["code", "name"], [], what)
        ident(body["code"], MEMBER, f"{what}: code")
        text(body["name"], f"{what}: name", 1, 200)
    elif kind == "pledge":
        exact(body, ["to", "category", "areas", "amount", "due", "title"], ["tranches"], what)
        ident(body["to"], MEMBER, f"{what}: to")
        ident(body["category"], MEMBER, f"{what}: category")
        areas = body["areas"]
        if not isinstance(areas, list) or not 1 <= len(areas) <= 64 or len(set(map(str, areas))) != len(areas):
            raise Bad(f"{what}: areas")
        for a in areas:
            ident(a, AREA, f"{what}: area")
        measure(body["amount"], f"{what}: amount")
        date(body["due"], f"{what}: due")
        text(body["title"], f"{what}: title", 1, 300)
        for t in body.get("tranches", []):
            exact(t, ["due", "amount"], [], f"{what}: tranche")
            date(t["due"], f"{what}: tranche due")
            measure(t["amount"], f"{what}: tranche amount")
    elif kind == "amendment":
        exact(body, ["pledge"], ["due", "title", "areas", "increase"], what)
        short(body["pledge"], "P", f"{what}: pledge")
        if len(body) == 1:
            raise Bad(f"{what}: an amendment changes nothing")
        if "due" in body:
            date(body["due"], f"{what}: due")
        if "title" in body:
            text(body["title"], f"{what}: title", 1, 300)
        if "increase" in body:
            measure(body["increase"], f"{what}: increase")
    elif kind == "fulfillment":
        exact(body, ["pledge", "amount"], ["beyond", "evidence", "note"], what)
        short(body["pledge"], "P", f"{what}: pledge")
        measure(body["amount"], f"{what}: amount")
        if "beyond" in body and type(body["beyond"]) is not bool:
            raise Bad(f"{what}: beyond is not a boolean")
        if "note" in body:
            text(body["note"], f"{what}: note", 0, 4000, True)
    elif kind == "attestation":
        exact(body, ["fulfillment", "verdict"], ["note"], what)
        short(body["fulfillment"], "F", f"{what}: fulfillment")
        if body["verdict"] not in ("confirmed", "disputed"):
            raise Bad(f"{what}: verdict {body['verdict']!r}")
    elif kind == "withdrawal":
        exact(body, ["pledge", "reason"], ["amount"], what)
        short(body["pledge"], "P", f"{what}: pledge")
        text(body["reason"], f"{what}: reason", 0, 4000, True)
        if "amount" in body:
            measure(body["amount"], f"{what}: amount")
    elif kind == "reversal":
        exact(body, ["fulfillment", "amount", "reason"], [], what)
        short(body["fulfillment"], "F", f"{what}: fulfillment")
        measure(body["amount"], f"{what}: amount")
        text(body["reason"], f"{what}: reason", 0, 4000, True)
    elif kind == "iati-org-added":
        exact(body, ["member", "iati_org"], [], what)
        ident(body["member"], MEMBER, f"{what}: member")
        text(body["iati_org"], f"{what}: IATI organisation", 1, 150)
    else:
        raise Bad(f"{what}: unknown kind {kind!r}")


def signing_time(value, what):
    m = SIGNED.fullmatch(value) if isinstance(value, str) else None
    if not m:
        raise Bad(f"{what}: signed_at {value!r} is not RFC 3339")
    day, hh, mm, ss, frac, zone = m.groups()
    t = datetime.datetime.fromisoformat(f"{day}T{hh}:{mm}:{ss}")
    if frac:
        t += datetime.timedelta(microseconds=int((frac[1:] + "000000")[:6]))
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        t -= sign * datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return t


# --- The bundle -----------------------------------------------------------------------------


def verify(path: str, trusted_log_key=None) -> str:
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"\xef\xbb\xbf"):
        raise Bad("the bundle begins with a byte-order mark")
    if b"\r" in data:
        raise Bad("the bundle has a carriage return: lines end with LF alone")
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        raise Bad("the bundle is empty")
    header = strict_json(lines[0], "bundle header")
    exact(header, ["bundle", "origin", "size", "checkpoints"], [], "bundle header")
    if header["bundle"] != "pledger-bundle/v1":
        raise Bad("not a pledger-bundle/v1 file")
    origin, size = header["origin"], header["size"]
    if not isinstance(origin, str) or not re.fullmatch(r"[\x21-\x2a\x2c-\x7e]{1,200}", origin):
        raise Bad("the origin is not 1-200 printable ASCII characters without '+'")
    if type(size) is not int or size < 1:
        raise Bad("the size is not a positive whole number")
    if len(lines) != size + 2:
        raise Bad(f"bundle promises {size} entries and has {len(lines) - 2}")
    wanted, before = {}, 0
    for note in header["checkpoints"]:
        parts = note.split("\n") if isinstance(note, str) else []
        if len(parts) < 2 or not parts[1].isdigit():
            raise Bad("a bundle checkpoint is malformed")
        n = int(parts[1])
        if n <= before:
            raise Bad(f"bundle checkpoints out of order: size {n} after size {before}")
        wanted[n], before = note, n
    if before != size:
        raise Bad(f"the bundle has no checkpoint of its size {size}")

    members = {}  # member id -> convener
    keys = {}  # key id -> {member, public_key, added, revoked}
    log_key = None
    log_keys = []  # (seq, old, new, signed_by)
    event_ids = set()
    tree = Frontier()
    last_recorded = None
    checked = 0
    for seq, line in enumerate(lines[1 : 1 + size]):
        at = f"entry {seq}"
        if len(line) > MAX_ENTRY_BYTES:
            raise Bad(f"{at}: longer than the {MAX_ENTRY_BYTES} bytes an entry holds")
        entry = strict_json(line, at)
        exact(entry, ["seq", "recorded", "envelope"], [], at)
        if entry["seq"] != seq:
            raise Bad(f"{at}: numbered {entry['seq']}: entries dropped, added or reordered")
        rec = entry["recorded"]
        if not isinstance(rec, str) or not RECORDED.fullmatch(rec):
            raise Bad(f"{at}: recording time {rec!r} is not UTC with milliseconds")
        try:
            recorded = datetime.datetime.fromisoformat(rec[:-1])
        except ValueError:
            raise Bad(f"{at}: recording time {rec!r} is not a time")
        if last_recorded is not None and recorded < last_recorded:
            raise Bad(f"{at}: recording time {rec} is before the entry before it")
        last_recorded = recorded
        env = entry["envelope"]
        exact(env, ["payloadType", "payload", "signatures"], [], f"{at}: envelope")
        if env["payloadType"] != PAYLOAD_TYPE:
            raise Bad(f"{at}: not a pledger envelope")
        sigs = env["signatures"]
        if not isinstance(sigs, list) or len(sigs) != 1:
            raise Bad(f"{at}: an envelope has exactly one signature")
        exact(sigs[0], ["keyid", "sig"], [], f"{at}: signature")
        payload = b64(env["payload"], f"{at}: payload")
        if len(payload) > MAX_EVENT_BYTES:
            raise Bad(f"{at}: event larger than {MAX_EVENT_BYTES} bytes")
        event = strict_json(payload, f"{at}: event")
        exact(event, ["v", "id", "origin", "kind", "signer", "key", "signed_at", "effective", "body"], [], f"{at}: event")
        if event["v"] != 1 or type(event["v"]) is not int:
            raise Bad(f"{at}: event version {event['v']!r}")
        ident(event["id"], HEX32, f"{at}: event id")
        ident(event["signer"], MEMBER, f"{at}: signer")
        ident(event["key"], HEX32, f"{at}: key")
        date(event["effective"], f"{at}: effective")
        if signing_time(event["signed_at"], at) > recorded + CLOCK_SKEW:
            raise Bad(f"{at}: signed more than 5 minutes after it was recorded")
        if event["origin"] != origin:
            raise Bad(f"{at}: event is for another ledger")
        if event["id"] in event_ids:
            raise Bad(f"{at}: duplicate event id")
        event_ids.add(event["id"])
        if sigs[0]["keyid"] != event["key"]:
            raise Bad(f"{at}: envelope and event name different keys")
        kind, body, signer = event["kind"], event["body"], event["signer"]
        check_body(kind, body, f"{at}: {kind}")

        # Who signs, with which key.
        if seq == 0:
            if kind != "genesis":
                raise Bad("entry 0 is not a genesis")
            signer_key = public_key(body["public_key"], "genesis public_key")
            if key_id(signer_key) != event["key"] or body["member"] != signer:
                raise Bad("entry 0: genesis is not self-signed by its convener")
        else:
            if kind == "genesis":
                raise Bad(f"{at}: a second genesis")
            k = keys.get(event["key"])
            if k is None or k["member"] != signer:
                raise Bad(f"{at}: key {event['key']} is not a key of {signer}")
            if k["revoked"] is not None and seq > k["revoked"]:
                raise Bad(f"{at}: key {event['key']} was revoked at entry {k['revoked']}")
            signer_key = k["public_key"]
        if not verify_ed25519(signer_key, pae(PAYLOAD_TYPE.encode(), payload), b64(sigs[0]["sig"], f"{at}: sig")):
            raise Bad(f"{at}: bad signature")

        # Keys and authority.
        convener = members.get(signer, False)

        def key_manager(target, action):
            # A member's keys are managed by the member itself or a convener.
            if target not in members:
                raise Bad(f"{at}: unknown member {target}")
            if target != signer and not convener:
                raise Bad(f"{at}: {signer} {action} {target} without authority")
            return target

        def add_key(member, raw):
            kid = key_id(raw)
            if kid in keys:
                raise Bad(f"{at}: key {kid} is already registered")
            keys[kid] = {"member": member, "public_key": raw, "added": seq, "revoked": None}

        if kind == "genesis":
            members[body["member"]] = True
            add_key(body["member"], signer_key)
            new_log = public_key(body["log_key"], "genesis log_key")
            if new_log != signer_key:
                add_key(body["member"], new_log)
            log_keys.append((seq, None, new_log, signer_key))
            log_key = new_log
        elif kind == "member-admitted":
            if not convener:
                raise Bad(f"{at}: {signer} is not a convener and admits a member")
            if body["member"] in members:
                raise Bad(f"{at}: member {body['member']} exists")
            members[body["member"]] = body["convener"]
            add_key(body["member"], public_key(body["public_key"], f"{at}: public_key"))
        elif kind == "key-added":
            target = key_manager(body["member"], "adds a key to")
            raw = public_key(body["public_key"], f"{at}: public_key")
            add_key(target, raw)
            if body.get("log"):
                if not convener or not members[target]:
                    raise Bad(f"{at}: only a convener names a convener's key the log key")
                log_keys.append((seq, log_key, raw, signer_key))
                log_key = raw
        elif kind == "key-revoked":
            target = key_manager(body["member"], "revokes a key of")
            k = keys.get(body["key"])
            if k is None or k["member"] != target:
                raise Bad(f"{at}: revokes a key the member does not hold")
            if k["revoked"] is not None:
                raise Bad(f"{at}: revokes a key already revoked")
            if k["public_key"] == log_key:
                raise Bad(f"{at}: revokes the current log key")
            if members[target]:
                live = [x for x in keys.values() if members.get(x["member"]) and x["revoked"] is None]
                if len(live) <= 1:
                    raise Bad(f"{at}: revokes the conveners' last live key")
            k["revoked"] = seq
        elif kind in ("area-defined", "category-defined", "iati-org-added"):
            if not convener:
                raise Bad(f"{at}: {signer} is not a convener ({kind})")
            if kind == "iati-org-added" and body["member"] not in members:
                raise Bad(f"{at}: unknown member {body['member']}")

        tree.push(leaf_hash(line))
        if seq + 1 in wanted:
            cp_size, cp_root = open_checkpoint(wanted[seq + 1], origin, log_key)
            if cp_size != seq + 1 or cp_root != tree.root():
                raise Bad(f"checkpoint of size {seq + 1}: the entries do not hash to its root")
            checked += 1
    if checked != len(wanted):
        raise Bad("a checkpoint is not at a size of the bundle")

    # The key list: exactly the keys the entries record.
    listing = strict_json(lines[-1], "key list")
    exact(listing, ["keys"], [], "key list")
    want = sorted(
        (kid, k["member"], base64.b64encode(k["public_key"]).decode(), k["added"], k["revoked"]) for kid, k in keys.items()
    )
    got = []
    for k in listing["keys"]:
        exact(k, ["member", "key", "public_key", "added", "revoked"], [], "key list entry")
        got.append((k["key"], k["member"], k["public_key"], k["added"], k["revoked"]))
    if sorted(got) != want:
        raise Bad("the key list differs from the keys the entries record")

    said = f"verified {size} entries of {origin}; root {base64.b64encode(tree.root()).decode()}"
    if trusted_log_key is not None:
        said += follow(trusted_log_key, log_keys)
    return said


def follow(trusted: bytes, log_keys) -> str:
    """From the trusted log key to the current one, each rotation signed by the key it replaced."""
    starts = [i for i, (_, _, new, _) in enumerate(log_keys) if new == trusted]
    if not starts:
        raise Bad("the key you trust was never this ledger's log key")
    followed = 0
    for seq, old, new, signed_by in log_keys[starts[-1] + 1 :]:
        if signed_by != old:
            raise Bad(f"the log key was rotated at entry {seq} by a key other than the one it replaced: not vouched for")
        followed += 1
    return f"; the log key you trust, followed through {followed} rotation(s)" if followed else ""


def parse_vkey(vkey: str) -> bytes:
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise Bad("bad log verifier key: NAME+HASH+KEY")
    name, kid, key = parts
    raw = b64(key, "verifier key")
    if len(raw) != 33 or raw[0] != 0x01 or note_key_hash(name, 1, raw[1:]).hex() != kid:
        raise Bad("bad log verifier key")
    return raw[1:]


def main(argv) -> int:
    if len(argv) == 2 and argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--log-key"):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    try:
        trusted = parse_vkey(argv[3]) if len(argv) == 4 else None
        print(verify(argv[1], trusted))
        return 0
    except Bad as e:
        print(f"verify_bundle: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        print(f"verify_bundle: malformed bundle: {e.__class__.__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
