"""Shares over HTTP: grant, list and revoke a chapter's shares (its assignee, owner and admins),
and what a guest's server calls with a share's token.

    POST   /v1/chapters/{chapter}/shares          grant: {id, token, …}; the token is shown once
    GET    /v1/chapters/{chapter}/shares          the shares in force
    DELETE /v1/chapters/{chapter}/shares/{share}  revoke, at once
    POST   /v1/shares/{token}/connect             the guest's server: what the share opens
    POST   /v1/shares/{token}/accept              a guest: into one of their books

A share's token is a bearer secret of its own, unrelated to API tokens: routes that take it
need no account. The rules are engine/shares.py's; the commands app/shares.py's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from app import shares as app_shares
from app.mirrors import accept
from engine.shares import ShareAccess
from gateway.deps import CurrentUser, ReadableChapter, ServicesDep
from gateway.errors import error_responses
from gateway.routes.chapters import chapter_public
from gateway.schemas_books import ChapterPublic
from gateway.schemas_shares import (
    ShareAccept,
    ShareConnection,
    ShareCreate,
    ShareCreated,
    ShareList,
    SharePublic,
)

__all__ = ["ShareToken", "router"]

ShareToken = Annotated[str, Path(min_length=24, max_length=512, description="A share's token.")]
_ShareId = Annotated[str, Path(max_length=64, description="A share's id.")]

router = APIRouter(tags=["shares"], responses=error_responses(401, 403, 404))


def _public(access: ShareAccess) -> SharePublic:
    return SharePublic.model_validate(access)


@router.get("/chapters/{chapter}/shares")
async def read_shares(services: ServicesDep, chapter: ReadableChapter) -> ShareList:
    """The chapter's shares in force (tokens are never shown again)."""
    return ShareList(shares=[_public(a) for a in await app_shares.in_force(services, chapter.id)])


@router.post(
    "/chapters/{chapter}/shares",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
)
async def create_share(
    body: ShareCreate, services: ServicesDep, user: CurrentUser, chapter: ReadableChapter
) -> ShareCreated:
    """Share the chapter (its assignee, the book's owner and admins); the answer carries the
    share's token, shown this once."""
    granted = await app_shares.grant(
        services, user, chapter.id, mode=body.mode, grantee=body.grantee,
        permissions=list(body.permissions), scope=body.scope, expires_at=body.expires_at,
    )  # fmt: skip
    return ShareCreated(
        **_public(granted.access).model_dump(),
        token=granted.token,
        rev=granted.rev,
        interval_s=granted.interval_s,
    )


@router.delete("/chapters/{chapter}/shares/{share}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_share(
    services: ServicesDep, user: CurrentUser, chapter: ReadableChapter, share: _ShareId
) -> None:
    """Revoke a share: its token opens nothing from now on, and a direct guest's open
    connection loses access."""
    await app_shares.revoke(services, user, chapter.id, share)


@router.post("/shares/{token}/connect", responses=error_responses(409))
async def connect_share(token: ShareToken, services: ServicesDep) -> ShareConnection:
    """What a share opens, for the guest's server (or `ragstack follow`): the chapter, the
    mode, the head now, and for a direct share NATS credentials issued to the guest."""
    return ShareConnection.model_validate(await app_shares.connect(services, token))


@router.post(
    "/shares/{token}/accept",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409, 502),
)
async def accept_share(
    token: ShareToken, body: ShareAccept, services: ServicesDep, user: CurrentUser
) -> ChapterPublic:
    """Accept a share into one of your books (default: your first): a copy becomes a chapter
    of your own; a live share a mirror that follows the owner's chapter. `from` names the
    owner's server when it is not this one."""
    accepted = await accept(services, user, token, book=body.book, from_url=body.from_)
    return await chapter_public(services, accepted.entry, accepted.book, detail=True)
