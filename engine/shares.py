"""Shares: granting a chapter to someone, revoking it, and resolving a share's token.

A share is an event in the owner's chapter log (`ShareGranted`, `ShareRevoked`), so the history
shows who had access when; its token, the only secret, is kept as a digest in the accounts store.
The log is the authority on whether a share is in force: resolving a token folds the chapter's
share events up to the head (incrementally, per chapter), so a revocation takes effect with the
next request, whichever process serves it. The book decides the rest at each use: a share to
someone outside the book stops while the book's external sharing is off.

Rules (engine/rules.py, `BookState.check_share`): the chapter's assignee and the book's owner
and admins may share it; never with oneself; outside the book only while the book allows it.
Direct shares need a NATS server that can issue per-share credentials (`DirectAccess`, the
embedded server's); without one they are refused with a message that says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import msgspec

from engine.accounts import AccountStore, InvalidShareToken
from engine.accounts.store import new_share_token
from engine.books import Books
from engine.log import Logs
from engine.personal import open_bodies
from engine.rules import Conflict, Forbidden, Invalid, NotFound
from events import (
    Permission,
    ShareGranted,
    ShareMode,
    ShareRevoked,
    new_id,
)
from events.book import Plan

__all__ = [
    "PERMISSIONS",
    "SCOPES",
    "DirectAccess",
    "DirectUnavailable",
    "Granted",
    "NatsGrant",
    "ShareAccess",
    "ShareEnded",
    "ShareForbidden",
    "Shares",
    "interval_for",
]

MODES: tuple[ShareMode, ...] = ("copy", "proxied", "direct")
PERMISSIONS: tuple[Permission, ...] = ("add", "remove", "edit", "prompt_passthrough")
SCOPES = ("sources", "notes", "threads")
DEFAULT_SCOPE = ("sources", "notes")
INTERVALS: dict[Plan, int] = {"paid": 60, "free": 600}
"""Seconds between a proxied share's ticks, by the book's plan."""
SHARE_ACTOR_PREFIX = "share:"


def interval_for(plan: Plan) -> int:
    """A proxied share's tick for a book on `plan`."""
    return INTERVALS[plan]


class ShareEnded(Forbidden):
    """The share was revoked, expired, or stopped by its book's policy (HTTP 403)."""

    code = "share_ended"


class ShareForbidden(Forbidden):
    """The share does not include the permission a guest's request needs (HTTP 403)."""

    code = "share_forbidden"


_DOING: dict[str, str] = {
    "add": "adding sources",
    "remove": "removing sources",
    "edit": "editing or retagging sources",
    "prompt_passthrough": "asking through the owner's model",
}


class DirectUnavailable(Conflict):
    """This server cannot issue direct-share credentials (HTTP 409)."""

    code = "direct_shares_unavailable"


class NatsGrant(msgspec.Struct, frozen=True, kw_only=True):
    """What a direct guest connects with: issued to the guest, bound to the share."""

    url: str
    user: str
    password: str
    inbox_prefix: str
    """The guest must connect with this inbox prefix: it may receive replies nowhere else."""
    certificate: str | None = None
    """With TLS, the server's certificate (PEM) for the guest to trust besides the system's
    authorities: an owner's self-made certificate needs no authority (`tls://` URLs)."""

    def tls(self) -> bool:
        """Whether the connection must be TLS."""
        return self.certificate is not None or self.url.startswith("tls://")


class DirectAccess(Protocol):
    """Issues and withdraws a direct guest's NATS credentials (the embedded server's users)."""

    async def grant(self, share: str, chapter: str) -> NatsGrant:
        """Credentials that read `chapter`'s stream and nothing else (replacing earlier ones)."""
        ...

    async def revoke(self, share: str) -> None:
        """Withdraw the share's credentials; open connections lose access at once."""
        ...

    def held(self) -> dict[str, str]:
        """The shares holding credentials now, with their chapters."""
        ...


class ShareAccess(msgspec.Struct, frozen=True, kw_only=True):
    """A share in force, as its token opens it."""

    id: str
    chapter: str
    book: str
    mode: ShareMode
    grantee: str
    permissions: list[Permission]
    scope: list[str]
    granted_rev: int
    expires_at: int | None = None

    @property
    def actor(self) -> str:
        """Who a guest's writes are recorded as in the owner's log."""
        return f"{SHARE_ACTOR_PREFIX}{self.id}"

    def allows(self, permission: Permission) -> bool:
        """Whether the grant includes `permission`."""
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        """ShareForbidden unless the grant includes `permission`."""
        if permission not in self.permissions:
            raise ShareForbidden(
                f"this share does not allow {_DOING[permission]}; the chapter's owner can grant "
                f"'{permission}'"
            )


class Granted(msgspec.Struct, frozen=True, kw_only=True):
    """A new share: its token (shown once, to the granter) and the rev of its `ShareGranted`."""

    access: ShareAccess
    token: str
    rev: int
    interval_s: int | None


class _Folded:
    """A chapter's share events folded up to `rev`."""

    __slots__ = ("granted", "lock", "rev", "revoked")

    def __init__(self) -> None:
        self.rev = 0
        self.granted: dict[str, tuple[ShareGranted, int]] = {}
        self.revoked: set[str] = set()
        self.lock = asyncio.Lock()


class Shares:
    """The shares of every chapter of this process's logs, and the commands over them."""

    def __init__(
        self,
        logs: Logs,
        books: Books,
        accounts: AccountStore,
        *,
        direct: DirectAccess | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.logs = logs
        self.books = books
        self.accounts = accounts
        self.direct = direct
        self._folded: dict[str, _Folded] = {}
        self._now = clock or (lambda: int(time.time() * 1000))

    # -- reading ------------------------------------------------------------------------------

    async def _fold(self, chapter: str) -> _Folded:
        folded = self._folded.setdefault(chapter, _Folded())
        async with folded.lock:
            head = (await self.logs.chapter(chapter).head()).rev
            if head > folded.rev:
                async for recorded in self.logs.chapter(chapter).read(after=folded.rev):
                    body = recorded.envelope.body
                    if isinstance(body, ShareGranted):
                        (body,) = await open_bodies(self.logs.blobs, [body])  # the grantee
                        folded.granted[body.share] = (body, recorded.rev)
                    elif isinstance(body, ShareRevoked):
                        folded.revoked.add(body.share)
                    folded.rev = recorded.rev
                    if folded.rev >= head:
                        break
        return folded

    async def in_force(self, chapter: str) -> list[ShareAccess]:
        """The chapter's shares not revoked, in the order granted (expired ones included)."""
        folded = await self._fold(chapter)
        book = await self.books.book_of(chapter)
        return [
            _access(body, chapter, book, rev)
            for share, (body, rev) in folded.granted.items()
            if share not in folded.revoked
        ]

    async def resolve(self, token: str) -> ShareAccess:
        """The share `token` opens; InvalidShareToken (unknown) or ShareEnded (no longer in
        force: revoked, expired, or external while its book allows no external sharing)."""
        found = await self.accounts.resolve_share_token(token)
        body, rev, book = await self._in_force(found.share, found.chapter)
        return _access(body, found.chapter, book, rev)

    # -- commands -----------------------------------------------------------------------------

    async def grant(
        self,
        actor: str,
        actor_email: str,
        chapter: str,
        *,
        mode: str,
        grantee: str,
        permissions: Sequence[str] = (),
        scope: Sequence[str] | None = None,
        expires_at: int | None = None,
    ) -> Granted:
        """Share `chapter` with `grantee` (an e-mail address); the token is returned once."""
        if mode not in MODES:
            raise Invalid(f"unknown share mode {mode!r}: use copy, proxied or direct")
        unknown = sorted(set(permissions) - set(PERMISSIONS))
        if unknown:
            raise Invalid(
                f"unknown permission {unknown[0]!r}: use {', '.join(PERMISSIONS)} (or none)"
            )
        scope = list(DEFAULT_SCOPE) if scope is None else list(dict.fromkeys(scope))
        if not scope or set(scope) - set(SCOPES):
            raise Invalid(f"a share's scope is one or more of {', '.join(SCOPES)}")
        if expires_at is not None and expires_at <= self._now():
            raise Invalid("a share cannot expire in the past")
        grantee = grantee.strip().lower()
        book = await self.books.book_of(chapter)
        state = await self.books.state(book, fresh=True)
        state.check_share(actor, actor_email, chapter, grantee)
        if mode == "direct" and self.direct is None:
            raise DirectUnavailable(
                "direct shares need the embedded nats-server; this server's logs live on an "
                "external NATS, whose operator must set up accounts for guests first "
                "(see docs/sharing.md). Share as proxied instead."
            )
        share, token = new_id(), new_share_token()
        interval = interval_for(state.plan) if mode == "proxied" else None
        body = ShareGranted(
            share=share,
            mode=mode,  # type: ignore[arg-type]  # checked above
            grantee=grantee,
            permissions=[p for p in PERMISSIONS if p in permissions],
            interval_s=interval,
            scope=scope,
            expires_at=expires_at,
        )
        # The token first: a share whose event was never appended opens nothing.
        await self.accounts.put_share_token(token, share_id=share, chapter_id=chapter, mode=mode)  # type: ignore[arg-type]
        try:
            recorded = await self.logs.chapter(chapter).append(body, actor=actor)
        except BaseException:
            await self.accounts.delete_share_token(share)
            raise
        return Granted(
            access=_access(body, chapter, book, recorded.rev),
            token=token,
            rev=recorded.rev,
            interval_s=interval,
        )

    async def revoke(self, actor: str, chapter: str, share: str, *, check: bool = True) -> int:
        """End a share at once (its direct credentials too); returns the rev of `ShareRevoked`.

        `check=False` is for the book's own rules (a policy change) that already decided.
        """
        if check:
            await self.books.chapter_access(actor, chapter, "manage")
        folded = await self._fold(chapter)
        if share not in folded.granted or share in folded.revoked:
            raise NotFound("no such share in force on this chapter")
        mode = folded.granted[share][0].mode
        recorded = await self.logs.chapter(chapter).append(ShareRevoked(share=share), actor=actor)
        if mode == "direct" and self.direct is not None:
            await self.direct.revoke(share)
        return recorded.rev

    async def stop_external(self, actor: str, book: str) -> list[str]:
        """Revoke every share of the book's chapters to someone outside the book (after its
        external sharing was turned off); the ids revoked."""
        state = await self.books.state(book, fresh=True)
        state.require_admin(actor)
        stopped = []
        for chapter in list(state.chapters):
            for access in await self.in_force(chapter):
                if state.member_by_email(access.grantee) is None:
                    await self.revoke(actor, chapter, access.id, check=False)
                    stopped.append(access.id)
        return stopped

    async def sweep(self) -> list[str]:
        """Withdraw the NATS credentials of every direct share no longer in force (expired, or
        its chapter gone from its book, or to an outsider while the book allows none); the
        share ids withdrawn. Revocations withdraw theirs at once; this catches the rest."""
        if self.direct is None:
            return []
        ended = []
        for share, chapter in self.direct.held().items():
            if not chapter:
                continue  # credentials of an older version: revoking the share removes them
            try:
                await self._in_force(share, chapter)
            except (ShareEnded, InvalidShareToken, NotFound):
                await self.direct.revoke(share)
                ended.append(share)
        return ended

    async def _in_force(self, share: str, chapter: str) -> tuple[ShareGranted, int, str]:
        """The share's grant, its rev and its book, if it is in force; else why not."""
        folded = await self._fold(chapter)
        granted = folded.granted.get(share)
        if granted is None:
            raise InvalidShareToken()
        if share in folded.revoked:
            raise ShareEnded("this share was revoked by the chapter's owner")
        body, rev = granted
        if body.expires_at is not None and self._now() >= body.expires_at:
            raise ShareEnded("this share has expired")
        book = await self.books.book_of(chapter)
        state = await self.books.state(book)
        if chapter not in state.chapters:
            raise ShareEnded("the shared chapter was deleted")
        if not state.external_sharing and state.member_by_email(body.grantee) is None:
            raise ShareEnded("the chapter's book no longer allows sharing outside it")
        return body, rev, book

    async def direct_grant(self, access: ShareAccess) -> NatsGrant:
        """The NATS credentials of a direct share (issued anew on each connect)."""
        if access.mode != "direct":
            raise Invalid(f"a {access.mode} share has no NATS credentials")
        if self.direct is None:
            raise DirectUnavailable("this server cannot issue direct-share credentials")
        return await self.direct.grant(access.id, access.chapter)


def _access(body: ShareGranted, chapter: str, book: str, rev: int) -> ShareAccess:
    return ShareAccess(
        id=body.share,
        chapter=chapter,
        book=book,
        mode=body.mode,
        grantee=body.grantee,
        permissions=list(body.permissions),
        scope=list(body.scope),
        granted_rev=rev,
        expires_at=body.expires_at,
    )
