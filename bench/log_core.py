"""The CPU-side halves of the log benchmark (bench/bench_log.py): realistic event payloads, and
rust_core against the standard library on the same inputs — chain verification against a pure
Python loop with hashlib, diff against difflib."""

from __future__ import annotations

import difflib
import hashlib
import random
import time

import msgspec

from bench.common import median_seconds, ratio, say
from events import Envelope, SourceAdded, encode, new_id
from rust_core import CHAIN_DOMAIN, GENESIS, chain_fold, diff, hash, patch, verify_chain

ACTOR = new_id()
"""The user every benchmark event is written by."""


def check(condition: bool, what: str) -> None:
    """A benchmark that measured something wrong must not print a figure."""
    if not condition:
        raise SystemExit(f"bench_log: {what}")


# --- payloads ---


def source_added(i: int, id_base: str) -> SourceAdded:
    """A realistic `SourceAdded`: a ULID-shaped source id, a file name, a BLAKE3 blob hash."""
    return SourceAdded(
        source=f"{id_base[:16]}{i:010x}",  # unique, 26 lower-case ULID characters, cheap to make
        name=f"quarterly-report-{i:07d}.pdf",
        media_type="application/pdf",
        blob=hash(i.to_bytes(8, "little")).hex(),
        size=10_000 + i * 7919 % 5_000_000,
        tags=["finance", "2024"],
    )


def bodies(start: int, count: int) -> list[SourceAdded]:
    base = new_id()
    return [source_added(i, base) for i in range(start, start + count)]


def envelopes(chapter: str, first_rev: int, items: list[SourceAdded]) -> list[bytes]:
    """The payloads the engine would store for `items`: same sizes for the raw baselines."""
    at = time.time_ns() // 1_000_000
    return [
        encode(
            Envelope(id=new_id(), chapter=chapter, rev=first_rev + i, at=at, actor=ACTOR, body=b)
        )
        for i, b in enumerate(items)
    ]


# --- chain verification: rust_core vs pure Python ---


def _python_verify_chain(prev: bytes, payloads: list[bytes], hashes: list[bytes]) -> int | None:
    """verify_chain's loop in pure Python. hashlib has no BLAKE3 (blake2b is another function),
    so the baseline hashes the same bytes layout (domain || h[n-1] || payload) with SHA-256,
    which runs with hardware help and beat hashlib's blake2b on these payloads: if anything the
    comparison flatters Python."""
    for i, (payload, expected) in enumerate(zip(payloads, hashes, strict=False)):
        prev = hashlib.sha256(CHAIN_DOMAIN + prev + payload).digest()
        if prev != expected:
            return i
    return None if len(payloads) == len(hashes) else min(len(payloads), len(hashes))


def _python_chain_fold(prev: bytes, payloads: list[bytes]) -> list[bytes]:
    out = []
    for payload in payloads:
        prev = hashlib.sha256(CHAIN_DOMAIN + prev + payload).digest()
        out.append(prev)
    return out


def bench_chain(n: int) -> dict[str, object]:
    """rust_core.verify_chain vs the Python loop over `n` realistic payloads."""
    say(f"chain verification of {n:,} payloads: rust_core.verify_chain vs Python + hashlib")
    payloads = envelopes(new_id(), 1, bodies(0, n))
    rust_hashes = chain_fold(GENESIS, payloads)
    py_hashes = _python_chain_fold(GENESIS, payloads)
    check(verify_chain(GENESIS, payloads, rust_hashes) is None, "rust_core rejects a good chain")
    check(_python_verify_chain(GENESIS, payloads, py_hashes) is None, "the Python loop is wrong")
    tampered = list(payloads)
    tampered[n // 2] = tampered[n // 2][:-1] + b"\x00"
    check(verify_chain(GENESIS, tampered, rust_hashes) == n // 2, "rust_core misses a change")
    check(_python_verify_chain(GENESIS, tampered, py_hashes) == n // 2, "Python misses a change")
    rust_s = median_seconds(lambda: verify_chain(GENESIS, payloads, rust_hashes), 5)
    py_s = median_seconds(lambda: _python_verify_chain(GENESIS, payloads, py_hashes), 3)
    say(f"  rust_core {n / rust_s:,.0f}/s, Python+hashlib {n / py_s:,.0f}/s")
    return {
        "chain_verify_speedup": ratio(py_s, rust_s),
        "chain_verify_rust_eps": round(n / rust_s),
        "chain_verify_python_eps": round(n / py_s),
        "chain_events": n,
        "payload_bytes": round(sum(map(len, payloads)) / n),
    }


# --- diff: rust_core vs difflib ---

# fmt: off
_WORDS = [
    "the", "log", "chapter", "source", "event", "chain", "revision", "replica", "share",
    "verify", "hash", "stream", "server", "append", "replay", "projection", "vector", "index",
    "chunk", "answer", "citation", "audit", "head", "fork", "book", "member", "policy",
    "extract", "upload", "page", "library", "note", "thread", "message", "model", "token",
    "blob", "store", "durable",
]
# fmt: on


def make_text(rng: random.Random, size: int) -> str:
    """Prose-like lines of about 60-100 characters, `size` characters in all."""
    lines, total = [], 0
    while total < size:
        line = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 14))) + "."
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines) + "\n"


def scatter_edits(rng: random.Random, text: str, edits: int) -> str:
    """`edits` edits spread over the text: a word changed, a line inserted or a line removed."""
    lines = text.splitlines(keepends=True)
    for pos in sorted(rng.sample(range(len(lines)), edits), reverse=True):
        kind = rng.randrange(3)
        if kind == 0:
            words = lines[pos].split(" ")
            words[rng.randrange(len(words))] = "edited"
            lines[pos] = " ".join(words)
        elif kind == 1:
            lines.insert(pos, "A new sentence was inserted here by the benchmark.\n")
        else:
            del lines[pos]
    return "".join(lines)


def difflib_patch(old_lines: list[str], new_lines: list[str]) -> list[tuple[int, int, list[str]]]:
    """difflib's line opcodes as a patch: (old start, old end, replacement lines)."""
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines)
    return [
        (i1, i2, new_lines[j1:j2])
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]


def apply_difflib_patch(old_lines: list[str], ops: list[tuple[int, int, list[str]]]) -> str:
    out, at = [], 0
    for i1, i2, lines in ops:
        out += old_lines[at:i1]
        out += lines
        at = i2
    out += old_lines[at:]
    return "".join(out)


def bench_diff(size: int, edits: int) -> dict[str, object]:
    """rust_core.diff vs difflib on a `size`-character text with `edits` scattered edits."""
    rng = random.Random(2024)
    old = make_text(rng, size)
    new = scatter_edits(rng, old, edits)
    say(f"diff of a {len(old.encode()):,}-byte text with {edits} scattered edits")
    rust_patch = diff(old, new)
    check(patch(old, rust_patch) == new, "rust_core's patch does not reproduce the text")
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    ops = difflib_patch(old_lines, new_lines)
    check(apply_difflib_patch(old_lines, ops) == new, "difflib's patch does not reproduce the text")
    rust_s = median_seconds(lambda: diff(old, new), 5)
    # The baseline splits the texts into lines inside the timing too: rust_core's diff does.
    py_s = median_seconds(
        lambda: difflib_patch(old.splitlines(keepends=True), new.splitlines(keepends=True)), 3
    )
    say(f"  rust_core {rust_s * 1000:.1f} ms, difflib {py_s * 1000:.1f} ms")
    return {
        "diff_speedup": ratio(py_s, rust_s),
        "diff_rust_ms": round(rust_s * 1000, 2),
        "diff_difflib_ms": round(py_s * 1000, 2),
        "diff_patch_bytes": len(rust_patch),
        "difflib_patch_bytes": len(msgspec.msgpack.encode(ops)),
        "diff_text_bytes": len(old.encode()),
        "diff_edits": edits,
    }
