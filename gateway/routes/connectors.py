"""Connectors over HTTP: configure one for a chapter, sync it, read its status, delete it.

POST /v1/chapters/{chapter}/connectors                     configure (JSON ConnectorCreate)
GET  /v1/chapters/{chapter}/connectors                     list
GET  /v1/chapters/{chapter}/connectors/{id}                status, cursor, last run, errors
POST /v1/chapters/{chapter}/connectors/{id}/sync           sync now (what the server reaches)
DELETE /v1/chapters/{chapter}/connectors/{id}?remove_sources=false

and, for a Zotero directory synced from the user's machine (the CLI):

GET  /v1/chapters/{chapter}/connectors/{id}/items          what it brought in, by ref
POST /v1/chapters/{chapter}/connectors/{id}/items          multipart: a `changes.json` file part
     (engine.connectors.Changes) and one file part per new bytes, named by its BLAKE3 hash.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, Path, Query, Request, status

from app import connectors as app_connectors
from engine.connectors import Changes
from engine.rules import Invalid
from gateway.deps import CurrentUser, ReadableChapter, ServicesDep, WritableChapter
from gateway.errors import BadRequest, error_responses
from gateway.schemas_connectors import (
    ConnectorCreate,
    ConnectorList,
    ConnectorPublic,
    HeldItemPublic,
    HeldItems,
)
from gateway.uploads import multipart_body, read_upload_form

__all__ = ["router"]

CHANGES_PART = "changes.json"
_Id = Annotated[str, Path(max_length=64, description="A connector id.")]

router = APIRouter(tags=["connectors"], responses=error_responses(401, 403, 404))


def _public(view: app_connectors.ConnectorView) -> ConnectorPublic:
    return ConnectorPublic.model_validate(msgspec.to_builtins(view))


@router.post(
    "/chapters/{chapter}/connectors", status_code=status.HTTP_201_CREATED,
)  # fmt: skip
async def create_connector(
    body: ConnectorCreate, services: ServicesDep, user: CurrentUser, chapter: WritableChapter
) -> ConnectorPublic:
    """Configure a connector; its key is stored encrypted and never shown again."""
    view = await app_connectors.configure(
        services, chapter.id, actor=user.id, kind=body.kind, library=body.library,
        api_key=body.api_key, base_url=body.base_url, path=body.path, email=body.email,
    )  # fmt: skip
    return _public(view)


@router.get("/chapters/{chapter}/connectors")
async def read_connectors(services: ServicesDep, chapter: ReadableChapter) -> ConnectorList:
    """The chapter's connectors and their status."""
    views = await app_connectors.list_connectors(services, chapter.id)
    return ConnectorList(connectors=[_public(v) for v in views])


@router.get("/chapters/{chapter}/connectors/{connector}")
async def read_connector(
    services: ServicesDep, chapter: ReadableChapter, connector: _Id
) -> ConnectorPublic:
    """A connector's status, cursor, last run and per-item errors."""
    return _public(await app_connectors.read(services, chapter.id, connector))


@router.post(
    "/chapters/{chapter}/connectors/{connector}/sync",
    responses=error_responses(409, 502, 503),
)
async def sync_connector(
    services: ServicesDep, user: CurrentUser, chapter: WritableChapter, connector: _Id
) -> ConnectorPublic:
    """Sync now; answers once the sync has ended, with the connector's status."""
    view = await app_connectors.run_sync(services, chapter.id, connector, actor=user.id)
    return _public(view)


@router.delete("/chapters/{chapter}/connectors/{connector}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_connector(
    services: ServicesDep,
    user: CurrentUser,
    chapter: WritableChapter,
    connector: _Id,
    remove_sources: Annotated[
        bool, Query(description="Also take the sources it brought in out of the chapter.")
    ] = False,
) -> None:
    """Stop and forget the connector (its sources stay unless `remove_sources`)."""
    await app_connectors.delete(
        services, chapter.id, connector, actor=user.id, remove_sources=remove_sources
    )


@router.get("/chapters/{chapter}/connectors/{connector}/items")
async def read_connector_items(
    services: ServicesDep, chapter: ReadableChapter, connector: _Id
) -> HeldItems:
    """What the connector brought into the chapter, by remote ref (for the CLI's comparison)."""
    items = await app_connectors.held(services, chapter.id, connector)
    return HeldItems(items=[HeldItemPublic.model_validate(i) for i in items])


@router.post(
    "/chapters/{chapter}/connectors/{connector}/items",
    responses=error_responses(409, 413),
    openapi_extra=multipart_body("changes.json, then files named by BLAKE3 hash."),
)
async def push_connector_items(
    request: Request, services: ServicesDep, user: CurrentUser, chapter: WritableChapter,
    connector: _Id,
) -> ConnectorPublic:  # fmt: skip
    """Apply the changes a CLI read from its own Zotero directory, with the new bytes."""
    limit = services.settings.limits.upload_bytes
    form = await read_upload_form(request, limit=limit, file_field="file", fields=())
    try:
        changes: Changes | None = None
        files: dict[str, bytes] = {}
        for upload in form.files:
            data = await upload.read()
            if upload.filename == CHANGES_PART:
                try:
                    changes = msgspec.json.decode(data, type=Changes)
                except msgspec.ValidationError as exc:
                    raise Invalid(f"{CHANGES_PART} is not a list of changes: {exc}") from None
                except msgspec.DecodeError:
                    raise BadRequest(f"{CHANGES_PART} is not JSON") from None
            else:
                files[upload.filename or ""] = data
        if changes is None:
            raise BadRequest(f"send the changes as a file part named {CHANGES_PART}")
    finally:
        await form.close()
    view = await app_connectors.push(
        services, chapter.id, connector, actor=user.id, changes=changes, files=files
    )
    return _public(view)
