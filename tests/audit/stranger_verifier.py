"""A stranger's verifier: a chapter archive checked with docs/log-format.md's algorithm alone.

Written as an auditor with their own code would write it: the standard library and three
third-party packages (msgpack, blake3, cryptography), nothing of RagStack's. test_log_format.py
checks that this module imports nothing else, so that passing here means the document is enough.
Deliberately plain and slow (each signed head's Merkle root is recomputed from scratch).
"""

from __future__ import annotations

import base64
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import msgpack
from blake3 import blake3
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CHAIN_DOMAIN = b"ragstack.chain.v1"
GENESIS = bytes(32)

# log-format.md, "Blobs": the fields that name blobs, by event type.
BLOB_FIELDS = {
    "SourceAdded": (["blob"], ["assets"]),
    "SourceExtracted": (["text_blob", "chunks_blob"], []),
    "SourceEdited": (["base_text", "new_text"], []),
    "ChapterForked": (["manifest"], []),
}
SEALED_FIELD = "sealed"
"""log-format.md, "Erasure": any event's personal blob, when it has one."""


class Fault(Exception):
    """The archive does not verify; `rev` is the first bad rev where one is to blame."""

    def __init__(self, reason: str, rev: int | None = None) -> None:
        super().__init__(reason if rev is None else f"rev {rev}: {reason}")
        self.rev = rev


@dataclass
class Verified:
    events: int
    signed: int
    head: str
    root: str
    keys: list[str] = field(default_factory=list)


def b3(data: bytes) -> bytes:
    return blake3(data).digest()


def merkle_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 MTH with BLAKE3: leaf 0x00, node 0x01, split at the largest power of two < n."""
    if not leaves:
        return b3(b"")
    if len(leaves) == 1:
        return b3(b"\x00" + leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return b3(b"\x01" + merkle_root(leaves[:k]) + merkle_root(leaves[k:]))


def ed25519_ok(key_hex: str, message: bytes, signature_hex: str) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_hex))
        key.verify(bytes.fromhex(signature_hex), message)
    except (ValueError, InvalidSignature):
        return False
    return True


def _files(tar: tarfile.TarFile) -> tuple[dict, dict[str, bytes]]:
    members = tar.getmembers()
    if not members or members[0].name != "manifest.json":
        raise Fault("manifest.json is not the first file")
    data = {}
    for member in members:
        handle = tar.extractfile(member)
        if handle is None:
            raise Fault(f"{member.name} is not a regular file")
        data[member.name] = handle.read()
    manifest = json.loads(data.pop("manifest.json"))
    if (manifest["format"], manifest["version"]) != ("ragstack.chapter-archive", 1):
        raise Fault("unknown archive format")
    listed = {f["name"]: f for f in manifest["files"]}
    if set(listed) != set(data):
        raise Fault(f"files {sorted(set(listed) ^ set(data))} differ from the manifest's")
    for name, entry in listed.items():
        if len(data[name]) != entry["size"] or blake3(data[name]).hexdigest() != entry["blake3"]:
            raise Fault(f"{name} does not match its size and BLAKE3 in the manifest")
    return manifest, data


def _keys(book: str, listed: list[dict]) -> list[dict]:
    """keys.json re-checked: the anchor first, each later key by a rotation the previous signed."""
    for i, key in enumerate(listed):
        if i == 0:
            continue
        old = listed[i - 1]
        if (old["to_rev"], old["to_at"]) != (key["from_rev"], key["from_at"]):
            raise Fault(f"key {i} does not follow key {i - 1}")
        message = f"ragstack.key.v1|{book}|{old['key']}|{key['key']}".encode()
        if not ed25519_ok(old["key"], message, key["rotation"] or ""):
            raise Fault(f"the rotation to key {i} is not signed by key {i - 1}")
    if listed and listed[-1]["to_rev"] is not None:
        raise Fault("the last key was retired by no listed key")
    return listed


def _key_valid(keys: list[dict], key: str, at: int) -> bool:
    return any(
        k["key"] == key and k["from_at"] <= at and (k["to_at"] is None or at < k["to_at"])
        for k in keys
    )


def _check_head(chapter: str, rev: int, env: dict, hashes: list[bytes], keys: list[dict]) -> None:
    body = env["body"]
    r = body["rev"]
    if not 1 <= r < rev:
        raise Fault("a HeadSigned signs a rev that is not earlier", rev)
    if body["head"] != hashes[r].hex():
        raise Fault(f"the signed head is not h[{r}]", rev)
    if body.get("root") is None:
        message = f"ragstack.head.v1|{chapter}|{r}|{body['head']}"
    else:
        if body["root"] != merkle_root(hashes[1 : r + 1]).hex():
            raise Fault(f"the signed root is not the Merkle root over h[1..{r}]", rev)
        message = f"ragstack.head.v2|{chapter}|{r}|{body['head']}|{body['root']}"
    if not _key_valid(keys, body["key"], env["at"]):
        raise Fault("the signing key is not the book's at the event's time", rev)
    if not ed25519_ok(body["key"], message.encode(), body["signature"]):
        raise Fault("the signature does not verify", rev)


def _blobs_named(body: dict) -> list[str]:
    singles, lists = BLOB_FIELDS.get(body["type"], ([], []))
    named = [body[f] for f in singles if body.get(f)]
    named += [body[SEALED_FIELD]] if body.get(SEALED_FIELD) else []
    return named + [h for f in lists for h in body.get(f) or []]


def verify(path: Path) -> Verified:
    """Verify the archive at `path`; `Fault` names the first bad rev (or what else is wrong)."""
    try:
        with tarfile.open(path, "r:") as tar:
            manifest, data = _files(tar)
    except (tarfile.TarError, EOFError) as exc:
        raise Fault(f"not a readable tar: {exc}") from None
    chapter, book = manifest["chapter"], manifest["book"]
    key_file = json.loads(data["keys.json"])
    if key_file["book"] != book:
        raise Fault("keys.json is another book's")
    keys = _keys(book, key_file["keys"])
    hashes, signed, named, erased = [GENESIS], 0, [], set()
    for n, line in enumerate(data["events.ndjson"].splitlines(), start=1):
        try:
            item = json.loads(line)
            payload = base64.b64decode(item["payload"], validate=True)
        except (ValueError, KeyError, TypeError):
            raise Fault("the line is not an archived event", n) from None
        if item["rev"] != n:
            raise Fault(f"the archive holds rev {item['rev']} where rev {n} belongs", n)
        h = b3(CHAIN_DOMAIN + hashes[-1] + payload)
        if h.hex() != item["hash"]:
            raise Fault("the chain breaks: BLAKE3 of h[n-1] and the payload is not h[n]", n)
        try:
            env = msgpack.unpackb(payload, raw=False)
            stamp = (env["chapter"], env["rev"], env["body"]["type"])
        except Exception:  # any way of not being an envelope: msgpack's errors, not a map, …
            raise Fault("the payload is not an envelope", n) from None
        if stamp[:2] != (chapter, n):
            raise Fault("the envelope names another chapter or rev", n)
        if n == 1 and env["body"].get("book") != book:
            raise Fault("rev 1 names another book", n)
        hashes.append(h)
        if env["body"]["type"] == "HeadSigned":
            _check_head(chapter, n, env, hashes, keys)
            signed += 1
        named += _blobs_named(env["body"])
        if env["body"]["type"] == "ContentErased":  # log-format.md, "Erasure": may be absent
            erased.update(env["body"].get("refs") or [])
    count = len(hashes) - 1
    head, root = hashes[-1].hex(), merkle_root(hashes[1:]).hex()
    if count != manifest["count"] or manifest["head"] != {"rev": count, "hash": head, "root": root}:
        raise Fault("the manifest's head is not the events' head")
    for digest in named:
        if f"blobs/{digest}" not in data and digest not in erased:
            raise Fault(f"blob {digest} is missing")
    return Verified(
        events=count, signed=signed, head=head, root=root, keys=[k["key"] for k in keys]
    )
