"""Tampering with chapter archives for tests: read and rewrite a tar's files, and flip one event's
payload while keeping the manifest's file hashes in agreement, so that only the chain can tell."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from pathlib import Path

import msgspec

from events.archive import EVENTS_FILE, MANIFEST_FILE, ArchiveFile, ArchiveManifest, encode_json
from rust_core import hash as blake3


def members(path: Path) -> dict[str, bytes]:
    """The archive's files, in order."""
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def rewrite(path: Path, files: dict[str, bytes]) -> Path:
    """A tar at `path` holding `files`, in order."""
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def flipped_line(line: bytes) -> bytes:
    """An events.ndjson line with the last byte of its payload flipped."""
    item = json.loads(line)
    payload = bytearray(base64.b64decode(item["payload"]))
    payload[-1] ^= 0x01
    item["payload"] = base64.b64encode(payload).decode()
    return json.dumps(item).encode()


def agreeing(files: dict[str, bytes], name: str, data: bytes | None) -> dict[str, bytes]:
    """`files` with `name` replaced by `data` (None: left out) and the manifest made to agree."""
    manifest = msgspec.json.decode(files[MANIFEST_FILE], type=ArchiveManifest)
    listed = [
        ArchiveFile(name=f.name, size=len(data), blake3=blake3(data).hex()) if f.name == name else f
        for f in manifest.files
        if f.name != name or data is not None
    ]
    files = {k: v for k, v in files.items() if k != name}
    files[MANIFEST_FILE] = encode_json(msgspec.structs.replace(manifest, files=listed))
    return files if data is None else {**files, name: data}


def flip_event(source: Path, rev: int, target: Path) -> Path:
    """A copy of the archive `source` at `target` with event `rev`'s payload flipped."""
    files = members(source)
    lines = files[EVENTS_FILE].split(b"\n")
    lines[rev - 1] = flipped_line(lines[rev - 1])
    return rewrite(target, agreeing(files, EVENTS_FILE, b"\n".join(lines)))
