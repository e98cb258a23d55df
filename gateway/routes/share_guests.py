"""What a guest may do in the owner's chapter, with the share's token (`X-Share-Token`) and the
permissions it was granted: read its sources, add (`add`), edit and retag (`edit`), remove
(`remove`), and ask through the owner's model (`prompt_passthrough`).

A guest's server calls these on the guest's behalf; each change lands in the owner's log with
the actor `share:<id>`, so the history says which share made it. Every request resolves the
token again: a revoked share is refused at once (403 `share_ended`), a missing permission is
403 `share_forbidden`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import Response

from app import sources as app_sources
from app.shares import ask_as_guest
from gateway.deps import ServicesDep, ShareDep
from gateway.errors import error_responses
from gateway.routes.chat import ANSWER_RESPONSES, respond
from gateway.routes.sources import (
    CREATE_BODY,
    WebFetcherDep,
    add_from_request,
    source_public,
    sources_added,
)
from gateway.schemas_chat import AnswerPublic, AskRequest
from gateway.schemas_sources import SourceList, SourcePublic, SourcesAdded, SourceUpdate

__all__ = ["router"]

_SourceId = Annotated[str, Path(max_length=64, description="A source id.")]

router = APIRouter(tags=["shares"], responses=error_responses(401, 403, 404))


@router.get("/shares/sources")
async def read_shared_sources(services: ServicesDep, share: ShareDep) -> SourceList:
    """The shared chapter's sources (any share may read them)."""
    views = await app_sources.list_sources(services, share.chapter)
    return SourceList(sources=[source_public(v) for v in views])


@router.post(
    "/shares/sources",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(413, 415),
    openapi_extra=CREATE_BODY,
)
async def create_shared_sources(
    request: Request, services: ServicesDep, share: ShareDep, fetcher: WebFetcherDep
) -> SourcesAdded:
    """Add files or a web page to the shared chapter (permission `add`)."""
    share.require("add")
    added = await add_from_request(
        request, services, share.actor, share.chapter, fetcher, wait=False
    )
    return sources_added(added)


@router.patch("/shares/sources/{source}", responses=error_responses(409))
async def update_shared_source(
    body: SourceUpdate, services: ServicesDep, share: ShareDep, source: _SourceId
) -> SourcePublic:
    """Retag a shared source or correct its text (permission `edit`)."""
    share.require("edit")
    view = await app_sources.update(
        services, share.chapter, source, actor=share.actor, tags=body.tags, text=body.text
    )
    return source_public(view)


@router.delete("/shares/sources/{source}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_shared_source(services: ServicesDep, share: ShareDep, source: _SourceId) -> None:
    """Take a source out of the shared chapter (permission `remove`)."""
    share.require("remove")
    await app_sources.remove(services, share.chapter, source, actor=share.actor)


@router.post("/shares/ask", response_model=AnswerPublic, responses=ANSWER_RESPONSES)
async def ask_shared(
    request: Request, body: AskRequest, services: ServicesDep, share: ShareDep
) -> Response:
    """Ask the shared chapter, answered by the owner's model (permission `prompt_passthrough`),
    as JSON or server-sent events like any question; both turns land in the owner's log."""
    share.require("prompt_passthrough")  # refused before the answer begins, as a plain 403
    stream = ask_as_guest(services, share, body.question, thread=body.thread, k=body.k)
    return await respond(request, stream)
