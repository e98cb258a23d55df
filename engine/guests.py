"""Direct guests: the NATS credentials of a direct share on the embedded server.

A direct share's guest connects to the owner's embedded nats-server as the user
`share_<share id>`, in an account of its own that imports only what it needs from the engine's
(engine/server_config.py says why an account and not permissions alone), and may do exactly three
things: Direct Get on the shared chapter's stream (by sequence, or the last message of its
subject), subscribe to the chapter's live republish subject `rs.live.<chapter>`, and receive
replies under an inbox prefix of its own. Nothing else — in particular no consumer of any kind: whoever may create a consumer
may create durables, and push consumers that deliver the chapter to ANY subject (another
chapter's stream subject, a subject other services listen on). Catch-up by Direct Get and the
republished live subject need no consumer (engine/jetstream/guest.py reads that way).

`GuestUsers` is the embedded server's `engine.shares.DirectAccess`: each connect issues fresh
credentials (a new password replaces the old, whose connections the server then drops), and a
revocation removes the user, which drops its open connections at once.
"""

from __future__ import annotations

import secrets
from typing import Any

from engine.jetstream.streams import ensure_live
from engine.nats import (
    GUEST_INBOX_PREFIX,
    JS_API,
    NATS,
    SHARE_USER_PREFIX,
    chapter_live_subject,
    chapter_stream,
    chapter_subject,
    share_user,
)
from engine.server import EmbeddedServer
from engine.shares import NatsGrant

__all__ = [
    "GuestUsers",
    "direct_share_permissions",
    "direct_share_subjects",
    "guest_inbox_prefix",
]


def guest_inbox_prefix(user: str) -> str:
    """The inbox prefix a restricted user must connect with (nats-py `inbox_prefix=`).

    Guests never get `_INBOX.>`: that would let them overhear the engine's own replies and
    consumer deliveries. Each guest gets an inbox namespace of its own instead.
    """
    if not user or any(c in user for c in " .*>\t\r\n"):
        raise ValueError(f"invalid user {user!r} for an inbox prefix")
    return f"{GUEST_INBOX_PREFIX}.{user}"


def direct_share_subjects(chapter: str) -> tuple[list[str], list[str]]:
    """What a direct guest's account imports from the engine's: the request subjects (Direct Get
    on the chapter's stream, by sequence or last-by-subject) and the subject it receives (the
    chapter's live subject)."""
    stream = chapter_stream(chapter)
    # Not `STREAM.INFO`: across accounts the JetStream API answers in the requester's account,
    # which has no JetStream; Direct Get is the one request a stream answers for importers.
    services = [f"{JS_API}.DIRECT.GET.{stream}", f"{JS_API}.DIRECT.GET.{stream}.>"]
    return services, [chapter_live_subject(chapter)]


def direct_share_permissions(chapter: str, *, inbox_prefix: str) -> dict[str, Any]:
    """The NATS permissions of a direct guest of `chapter` within its own account.

    Publish: only the imported requests (`direct_share_subjects`). Subscribe: the chapter's live
    subject and the guest's own inbox. No consumer creation (its account has no JetStream
    either), no publish to any stream subject, no other stream, no `_INBOX.>`, no listing.
    """
    services, streams = direct_share_subjects(chapter)
    return {
        "publish": {"allow": services},
        "subscribe": {"allow": [*streams, f"{inbox_prefix}.>"]},
    }


class GuestUsers:
    """Direct guests as users of the embedded server (`engine.shares.DirectAccess`).

    `url` is where guests dial the server (`[nats] guest_url`; default the server's own client
    URL, loopback unless `[nats] listen` says otherwise). `nc` is the engine's connection: a
    grant makes sure the chapter's stream republishes to its live subject (streams created
    before direct shares existed do not yet).
    """

    def __init__(self, server: EmbeddedServer, nc: NATS, *, url: str | None = None) -> None:
        self.server = server
        self.nc = nc
        self.url = url

    async def grant(self, share: str, chapter: str) -> NatsGrant:
        """Fresh credentials that read `chapter` and nothing else; earlier ones stop working."""
        await ensure_live(
            self.nc.jetstream(timeout=10),
            chapter_stream(chapter),
            chapter_subject(chapter),
            chapter_live_subject(chapter),
        )
        user = share_user(share)
        inbox = guest_inbox_prefix(user)
        password = secrets.token_urlsafe(32)
        services, streams = direct_share_subjects(chapter)
        await self.server.add_user(
            user,
            password,
            direct_share_permissions(chapter, inbox_prefix=inbox),
            services=services,
            streams=streams,
            note=chapter,
        )
        tls = self.server.tls
        return NatsGrant(
            url=self.url or self.server.url,
            user=user,
            password=password,
            inbox_prefix=inbox,
            certificate=tls.certificate() if tls is not None else None,
        )

    def held(self) -> dict[str, str]:
        """The shares that have credentials now, with their chapters."""
        return {
            name.removeprefix(SHARE_USER_PREFIX): spec.get("note", "")
            for name, spec in self.server.users().items()
            if name.startswith(SHARE_USER_PREFIX)
        }

    async def revoke(self, share: str) -> None:
        """Remove the share's user: the server drops its open connections at the reload."""
        await self.server.remove_user(share_user(share))
