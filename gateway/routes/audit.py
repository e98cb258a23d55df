"""Audit over HTTP: a chapter's events as stored, its state at a rev or a time, verification,
Merkle inclusion and consistency proofs and a history for people.

Everything here is read from the chapter's log itself, with the hash chain checked on the way
(projections/audit.py), never from a read model that could lag or have been edited: a stored
event that does not verify answers 409 `chain_broken` naming its rev. GET …/verify is the one
route that reports a broken chain in its body instead (`ok: false`, `first_bad_rev`, `reason`).
Proofs are the exception, and need not be trusted: they come from the stored Merkle tree
(projections/tree.py, whose fold checks the chain) and a client checks them against a root it
holds; when the tree is behind the size asked for, the log is read instead (`served_from`).

To check an event without downloading the log, a client asks for GET …/proof?rev=N&size=M and
runs `rust_core.merkle_verify(root, leaf, N - 1, M, proof)` (hex-decoded): true means h[N] is
leaf N-1 of the Merkle tree over the chain hashes h[1..M], whose root it holds (from an earlier
proof, a signed head or a copy's origin). GET …/proof?from=M&to=M2 proves the first M events are
a prefix of the first M2: `rust_core.merkle_consistency_verify(old_root, new_root, M, M2,
proof)` (events/proofs.py has both checks in hex and revs).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError

from app.services import Services
from engine.copies import verify_chapter
from engine.log import Head, Log
from events import Body, Envelope, SourceAdded, UnknownEvent
from gateway.deps import ReadableChapter, ServicesDep
from gateway.errors import BadRequest, error_responses
from gateway.schemas_audit import (
    ConsistencyPublic,
    EventPage,
    EventPublic,
    HeadPublic,
    HistoryEntry,
    HistoryPage,
    MessagePublic,
    ProofPublic,
    SharePublic,
    SourcePublic,
    StatePublic,
    ThreadPublic,
    VerifyPublic,
)
from projections.audit import (
    ChapterSnapshot,
    InclusionProof,
    inclusion_proof,
    read_envelopes,
    rev_at_time,
    source_of,
    summarize,
)
from projections.tree import ConsistencyProof, TreeBehind, consistency_from_log

__all__ = ["DEFAULT_PAGE", "MAX_PAGE", "parse_time", "router"]

DEFAULT_PAGE = 100
"""Events per page unless `limit` says otherwise."""
MAX_PAGE = 1000
"""The largest `limit`."""
_MAX_REV = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

router = APIRouter(tags=["audit"], responses=error_responses(401, 404, 409))

_After = Annotated[int, Query(ge=0, le=_MAX_REV, description="Return events after this rev.")]
_Limit = Annotated[
    int, Query(ge=1, le=MAX_PAGE, description=f"At most this many events (1 to {MAX_PAGE}).")
]


# --- helpers ---


def _head(head: Head) -> HeadPublic:
    return HeadPublic(rev=head.rev, hash=head.hex)


def parse_time(text: str) -> int:
    """Unix ms from `text`: digits are unix ms; anything else ISO 8601 (no zone: UTC)."""
    text = text.strip()
    if text.isascii() and text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            f"at={text!r} is neither unix milliseconds nor an ISO 8601 time "
            "(e.g. 2025-03-01T12:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)  # exact: no float rounding


def _iso(ms: int) -> str | None:
    try:
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event_json(body: Body) -> dict[str, Any]:
    if not isinstance(body, UnknownEvent):
        return msgspec.to_builtins(body)
    # A newer writer's event: show its fields as MessagePack decodes them, or its raw bytes.
    try:
        fields = msgspec.to_builtins(msgspec.msgpack.decode(body.raw), str_keys=True)
    except (msgspec.DecodeError, TypeError, ValueError):
        fields = None
    if not isinstance(fields, dict):
        return {"type": body.type, "raw": base64.b64encode(body.raw).decode()}
    return {**fields, "type": body.type}


async def _page_bounds(log: Log, after: int, limit: int) -> tuple[Head, int, int | None]:
    """The head, the last rev to read, and the next page's `after`."""
    head = await log.head()
    until = min(after + limit, head.rev)
    return head, until, (until if until < head.rev else None)


def _state(snapshot: ChapterSnapshot, *, include_removed: bool, messages: bool) -> StatePublic:
    names = {s.id: s.name for s in snapshot.sources}
    return StatePublic(
        chapter=snapshot.chapter,
        rev=snapshot.rev,
        hash=snapshot.hash.hex(),
        at=snapshot.at,
        book=snapshot.book,
        title=snapshot.title,
        forked_from=snapshot.forked_from,
        sources=[
            SourcePublic.model_validate(msgspec.to_builtins(s))
            for s in snapshot.sources
            if include_removed or s.status != "removed"
        ],
        threads=[ThreadPublic.model_validate(msgspec.to_builtins(t)) for t in snapshot.threads],
        messages=[MessagePublic.of(m, names) for m in snapshot.messages] if messages else None,
        shares=[SharePublic.model_validate(msgspec.to_builtins(s)) for s in snapshot.shares],
    )  # fmt: skip


async def _source_names(services: Services, chapter: str, envelopes: list[Envelope]) -> dict:
    # A source's name is fixed when it is added: the page's own SourceAdded events name most
    # sources; the others come from the catalogue (in one query, only when needed).
    names = {e.body.source: e.body.name for e in envelopes if isinstance(e.body, SourceAdded)}
    wanted = {s for e in envelopes if (s := source_of(e)) is not None and s not in names}
    if wanted:
        known = await services.read.catalogue.sources(chapter, include_removed=True)
        names |= {s.id: s.name for s in known if s.id in wanted}
    return names


# --- routes ---


@router.get("/chapters/{chapter}/events")
async def read_events(
    services: ServicesDep,
    chapter: ReadableChapter,
    after: _After = 0,
    limit: _Limit = DEFAULT_PAGE,
) -> EventPage:
    """The chapter's events after rev `after`, as stored, each checked against the hash chain.

    Recompute the chain from the payloads to check a page yourself: h[n] = BLAKE3(
    "ragstack.chain.v1" || h[n-1] || payload[n]) (`rust_core.chain_fold`), with h[after] the
    previous page's last hash (32 zero bytes before rev 1).
    """
    log = services.logs.chapter(chapter.id)
    head, until, next_after = await _page_bounds(log, after, limit)
    events: list[EventPublic] = []
    if until > after:
        async for stored, e in read_envelopes(log, after, until):
            events.append(
                EventPublic(
                    rev=stored.rev,
                    hash=stored.hash.hex(),
                    payload=base64.b64encode(stored.payload).decode(),
                    event=_event_json(e.body),
                    id=e.id,
                    at=e.at,
                    actor=e.actor,
                )
            )
    return EventPage(events=events, head=_head(head), next_after=next_after)


@router.get("/chapters/{chapter}/state", responses=error_responses(400))
async def read_state(
    services: ServicesDep,
    chapter: ReadableChapter,
    rev: Annotated[
        int | None,
        Query(ge=0, le=_MAX_REV, description="The chapter after its first `rev` events."),
    ] = None,
    at: Annotated[
        str | None,
        Query(
            max_length=64,
            description="The chapter at this time: unix ms, or ISO 8601 (no zone: UTC). The "
            "prefix through the last event stamped at or before it.",
        ),
    ] = None,
    include_removed: Annotated[
        bool, Query(description="List removed sources too (status `removed`).")
    ] = False,
    messages: Annotated[bool, Query(description="Include every message.")] = False,
) -> StatePublic:
    """The chapter as it was at rev `rev` or at time `at` (neither: now), folded from its log."""
    if rev is not None and at is not None:
        raise BadRequest("ask for the state at a rev or at a time, not both")
    log = services.logs.chapter(chapter.id)
    head = await log.head()
    if at is not None:
        rev = await rev_at_time(log, parse_time(at))
    elif rev is None:
        rev = head.rev
    elif rev > head.rev:
        raise BadRequest(f"the chapter has {head.rev} events; there is no rev {rev}")
    snapshot = await services.read.snapshots.at(log, rev)
    return _state(snapshot, include_removed=include_removed, messages=messages)


@router.get("/chapters/{chapter}/verify")
async def read_verification(services: ServicesDep, chapter: ReadableChapter) -> VerifyPublic:
    """Recompute the whole chain from the stored payloads and name the first rev that is wrong.

    Each event must hash to its stored `Rs-Hash`, say its own rev and name this chapter; each
    signed head must name h[rev] and the Merkle root at rev and be signed by a key of the book
    valid at the time (GET /v1/books/{book}/keys). A copy is also checked against its original:
    every copied event against the manifest its first event names, and against the original's
    signed root by its inclusion proof (a fault names the copy's rev).
    """
    keys = await services.keys.history_of_chapter(chapter.id) if services.keys else None
    report = await verify_chapter(services.logs, services.blobs, chapter.id, keys)
    return VerifyPublic(
        ok=report.ok,
        events=report.events,
        head=HeadPublic(rev=report.head_rev, hash=report.head_hex),
        first_bad_rev=report.first_bad_rev,
        reason=report.reason,
        signed=report.signed,
        signed_rev=report.signed_rev,
        bad_book_rev=report.bad_book_rev,
    )


@router.get("/chapters/{chapter}/proof", responses=error_responses(400))
async def read_proof(
    services: ServicesDep,
    chapter: ReadableChapter,
    rev: Annotated[int | None, Query(ge=1, le=_MAX_REV, description="The event to prove.")] = None,
    size: Annotated[
        int | None,
        Query(
            ge=1, le=_MAX_REV, description="The tree over the first `size` events (default: all)."
        ),
    ] = None,
    from_: Annotated[
        int | None,
        Query(alias="from", ge=1, le=_MAX_REV, description="Consistency: the older size."),
    ] = None,
    to: Annotated[
        int | None,
        Query(ge=1, le=_MAX_REV, description="Consistency: the newer size (default: all)."),
    ] = None,
) -> ProofPublic | ConsistencyPublic:
    """A Merkle proof: inclusion (`rev`, `size`) or consistency (`from`, `to`).

    Inclusion: event `rev` is among the first `size` events; verify with
    `rust_core.merkle_verify(root, leaf, rev - 1, size, proof)`. Consistency: the first `from`
    events are a prefix of the first `to`; verify with `rust_core.merkle_consistency_verify(
    old_root, new_root, from, to, proof)`. Values are hex; check against roots you hold.
    """
    if rev is None and from_ is None:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("query", "rev"), "msg": "give rev, or from and to"}]
        )
    if rev is not None and (from_ is not None or to is not None):
        raise BadRequest("ask for an inclusion proof (rev) or a consistency proof (from), not both")
    log = services.logs.chapter(chapter.id)
    head = await log.head()
    trees = services.read.trees
    if from_ is not None:
        to = head.rev if to is None else to
        if to > head.rev:
            raise BadRequest(f"the chapter has {head.rev} events; a proof cannot cover {to}")
        if from_ > to:
            raise BadRequest(f"from={from_} is after to={to}: the older tree must come first")
        try:
            return _consistency(await trees.consistency(chapter.id, from_, to), "tree")
        except TreeBehind:
            return _consistency(await consistency_from_log(log, from_, to), "log")
    assert rev is not None
    size = head.rev if size is None else size
    if size > head.rev:
        raise BadRequest(f"the chapter has {head.rev} events; a proof cannot cover {size}")
    if rev > size:
        raise BadRequest(f"rev {rev} is not among the first {size} events")
    try:
        return _inclusion(await trees.inclusion(chapter.id, rev, size), "tree")
    except TreeBehind:
        return _inclusion(await inclusion_proof(log, rev, size), "log")


_Served = Literal["tree", "log"]


def _inclusion(proof: InclusionProof, source: _Served) -> ProofPublic:
    return ProofPublic(
        rev=proof.rev,
        size=proof.size,
        index=proof.rev - 1,
        leaf=proof.leaf.hex(),
        root=proof.root.hex(),
        proof=[p.hex() for p in proof.proof],
        served_from=source,
    )


def _consistency(proof: ConsistencyProof, source: _Served) -> ConsistencyPublic:
    return ConsistencyPublic(
        from_=proof.old_size,
        to=proof.new_size,
        old_root=proof.old_root.hex(),
        new_root=proof.new_root.hex(),
        proof=[p.hex() for p in proof.proof],
        served_from=source,
    )


@router.get("/chapters/{chapter}/history")
async def read_history(
    services: ServicesDep,
    chapter: ReadableChapter,
    after: _After = 0,
    limit: _Limit = DEFAULT_PAGE,
) -> HistoryPage:
    """The chapter's events for people: when, who, what kind, and a one-line summary."""
    log = services.logs.chapter(chapter.id)
    head, until, next_after = await _page_bounds(log, after, limit)
    envelopes = [e async for _, e in read_envelopes(log, after, until)] if until > after else []
    names = await _source_names(services, chapter.id, envelopes)
    return HistoryPage(
        history=[
            HistoryEntry(
                rev=e.rev,
                id=e.id,
                at=_iso(e.at),
                at_ms=e.at,
                actor=e.actor,
                type=e.body.type if isinstance(e.body, UnknownEvent) else type(e.body).__name__,
                summary=summarize(e, names),
            )
            for e in envelopes
        ],
        head=_head(head),
        next_after=next_after,
    )
