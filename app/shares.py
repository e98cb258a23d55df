"""Sharing, the owner's side: grant, list and revoke a chapter's shares, turn external sharing
off (which stops every share outside the book), and what a guest's server gets when it connects.

The rules and the log are the engine's (engine/shares.py, engine/rules.py); this module adds
what an application needs around them: the book's current plan for a proxied share's tick, and
read-your-writes so that a list shows a share just granted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from app.asking import Asked, ask, auto_title, check_question, start_thread
from app.services import Services
from engine.accounts import User
from engine.nats import chapter_live_subject, chapter_stream, chapter_subject
from engine.rules import BookState
from engine.shares import Granted, NatsGrant, ShareAccess, interval_for

__all__ = [
    "Connection",
    "ask_as_guest",
    "connect",
    "grant",
    "in_force",
    "revoke",
    "set_external_sharing",
]


class Connection(msgspec.Struct, frozen=True, kw_only=True):
    """What a guest's server (or `ragstack follow`) needs to follow a share."""

    share: str
    chapter: str
    title: str
    mode: str
    permissions: list[str]
    scope: list[str]
    interval_s: int | None
    """A proxied share's tick now (it follows the book's plan)."""
    rev: int
    """The chapter's head now."""
    head: str
    """Hex chain hash at `rev`."""
    stream: str | None = None
    """Direct shares: the JetStream stream to read."""
    subject: str | None = None
    """Direct shares: the subject its events are stored under (guests may not listen there)."""
    live_subject: str | None = None
    """Direct shares: where the stream republishes each event it stored, for guests to follow."""
    nats: NatsGrant | None = None
    """Direct shares: credentials issued to the guest for this connection, bound to the share."""


async def grant(
    services: Services,
    user: User,
    chapter: str,
    *,
    mode: str,
    grantee: str,
    permissions: list[str],
    scope: list[str] | None,
    expires_at: int | None,
) -> Granted:
    """Share `chapter`; the granted share and its token (shown this once)."""
    return await services.shares.grant(
        user.id, user.email, chapter, mode=mode, grantee=grantee, permissions=permissions,
        scope=scope, expires_at=expires_at,
    )  # fmt: skip


async def in_force(services: Services, chapter: str) -> list[ShareAccess]:
    """The chapter's shares that are not revoked."""
    return await services.shares.in_force(chapter)


async def revoke(services: Services, user: User, chapter: str, share: str) -> int:
    """End a share now; the rev of its `ShareRevoked`."""
    return await services.shares.revoke(user.id, chapter, share)


async def set_external_sharing(
    services: Services, user: User, book: str, allowed: bool
) -> BookState:
    """Allow or forbid sharing outside the book; forbidding it stops every such share now."""
    state = await services.books.set_policy(user.id, book, external_sharing=allowed)
    if not allowed:
        await services.shares.stop_external(user.id, book)
    return state


async def connect(services: Services, token: str) -> Connection:
    """What the share `token` opens, for the guest's server; a direct share's credentials are
    issued here, to the guest, and never shown to the owner."""
    access = await services.shares.resolve(token)
    log = services.logs.chapter(access.chapter)
    head = await log.head()
    view = await services.read.catalogue.chapter(access.chapter)
    state = await services.books.state(access.book)
    entry = state.chapters.get(access.chapter)
    title = view.title if view is not None else (entry.title if entry else "")
    direct = access.mode == "direct"
    return Connection(
        share=access.id,
        chapter=access.chapter,
        title=title,
        mode=access.mode,
        permissions=list(access.permissions),
        scope=list(access.scope),
        interval_s=interval_for(state.plan) if access.mode == "proxied" else None,
        rev=head.rev,
        head=head.hex,
        stream=chapter_stream(access.chapter) if direct else None,
        subject=chapter_subject(access.chapter) if direct else None,
        live_subject=chapter_live_subject(access.chapter) if direct else None,
        nats=await services.shares.direct_grant(access) if direct else None,
    )


async def ask_as_guest(
    services: Services, access: ShareAccess, question: str, *, thread: str | None, k: int
) -> AsyncIterator[str | Asked]:
    """A guest's question in the shared chapter (permission `prompt_passthrough`), answered by
    the owner's model; both turns land in the owner's log as the share. Text pieces, then one
    `Asked` (app/asking.py)."""
    access.require("prompt_passthrough")
    if thread is None:
        title = auto_title(check_question(question))  # checked before a thread is made for it
        thread = (
            await start_thread(
                services.read, chapter=access.chapter, actor=access.actor, title=title
            )
        ).id
    llm = await services.llms.for_book(access.book)
    how = await services.retrieval.for_book(access.book)
    rerank = await services.rerankers.for_book(access.book)
    async for item in ask(
        services.read, chapter=access.chapter, thread=thread, question=question,
        actor=access.actor, llm=llm, k=k, mode=how.mode, min_similarity=how.min_similarity,
        rerank=rerank,
    ):  # fmt: skip
        yield item
