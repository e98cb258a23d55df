"""Read a stream straight from one nats-server node's file store, the server stopped or not.

The cluster fault tests compare the nodes: JetStream serves a read from whichever replica it
likes, so to see what ONE node holds we read its message blocks (`<store>/jetstream/<account>/
streams/<stream>/msgs/<n>.blk`) ourselves. A record there is (nats-server's filestore.go,
uncompressed and unencrypted, as the engine configures it):

    u32 length (bit 31: has headers) | u64 seq (bit 63: erased, bit 62: tombstone) | i64 ts |
    u16 subject length | subject | [u32 header length | headers] | payload | 8-byte checksum

`length` counts the whole record. A record that runs past the end of its file (a truncated
block) ends the read of that block.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from engine.nats import hash_of_headers
from engine.server_config import ENGINE_ACCOUNT

_HEAD = struct.Struct("<IQqH")
_HAS_HEADERS = 1 << 31
_ERASED = 1 << 63
_TOMBSTONE = 1 << 62
_CHECKSUM = 8


@dataclass(frozen=True)
class StoredMessage:
    seq: int
    headers: dict[str, str]
    payload: bytes

    @property
    def hash(self) -> bytes:
        return hash_of_headers(self.headers)


def stream_dir(node_dir: Path, stream: str) -> Path:
    """Where a node keeps `stream` (node_dir: the EmbeddedServer's data directory)."""
    return node_dir / "jetstream" / ENGINE_ACCOUNT / "streams" / stream


def block_files(node_dir: Path, stream: str) -> list[Path]:
    """The stream's message blocks on the node, in order."""
    msgs = stream_dir(node_dir, stream) / "msgs"
    return sorted(msgs.glob("*.blk"), key=lambda p: int(p.stem))


def _headers(block: bytes) -> dict[str, str]:
    lines = block.decode(errors="replace").split("\r\n")[1:]
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines if ":" in line)}


@dataclass(frozen=True)
class Record:
    seq: int
    path: Path
    start: int
    """Where the record starts in its block file."""
    payload_start: int
    """Where its payload starts in the file."""
    message: StoredMessage


def records(node_dir: Path, stream: str) -> list[Record]:
    """Every live record of `stream` in the node's block files, in file order."""
    found: list[Record] = []
    for path in block_files(node_dir, stream):
        data = path.read_bytes()
        at = 0
        while at + _HEAD.size <= len(data):
            raw_length, seq, _ts, subject_length = _HEAD.unpack_from(data, at)
            length = raw_length & ~_HAS_HEADERS
            if length < _HEAD.size + _CHECKSUM or at + length > len(data):
                break  # torn or truncated: nothing past here is readable
            body_start = at + _HEAD.size + subject_length
            body = data[body_start : at + length - _CHECKSUM]
            headers: dict[str, str] = {}
            if raw_length & _HAS_HEADERS:
                (header_length,) = struct.unpack_from("<I", body, 0)
                headers = _headers(body[4 : 4 + header_length])
                body = body[4 + header_length :]
                body_start += 4 + header_length
            if not seq & (_ERASED | _TOMBSTONE) and seq > 0:
                message = StoredMessage(seq=seq, headers=headers, payload=bytes(body))
                found.append(Record(seq, path, at, body_start, message))
            at += length
    return found


def read_store(node_dir: Path, stream: str) -> dict[int, StoredMessage]:
    """Every live message the node's store holds for `stream`, by sequence (= rev)."""
    return {record.seq: record.message for record in records(node_dir, stream)}
