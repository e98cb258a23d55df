"""Copy shares over HTTP: the snapshot a guest's server imports as a chapter of its own.

    GET /v1/shares/snapshot    (header X-Share-Token) the copy's manifest, MessagePack
    GET /v1/chapters/{chapter}/manifest    a copy's stored manifest, for a reader to check it

The manifest (events/copies.py) holds the in-scope events' original bytes, the original's
chain hashes, its signed head at the copy's rev with the book's keys, and each copied event's
inclusion proof, so the guest's server checks every copied event against a root the original's
book signed before importing it (engine/copies.py). It is taken at the chapter's head when asked
(signed then if it was not), not at the grant: a copy is the chapter as it is when the guest
accepts. The token travels in a header, never the path or
a query string, so that it stays out of access logs; the route needs no account.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from engine.copies import copy_manifest, share_snapshot
from gateway.deps import ReadableChapter, ServicesDep, ShareDep
from gateway.errors import error_responses
from gateway.routes.heads import BookKeysDep

__all__ = ["MANIFEST_MEDIA_TYPE", "router"]

MANIFEST_MEDIA_TYPE = "application/x-msgpack"

router = APIRouter(tags=["shares"], responses=error_responses(401, 403, 404))


@router.get(
    "/shares/snapshot",
    response_class=Response,
    responses={
        200: {"content": {MANIFEST_MEDIA_TYPE: {}}, "description": "The copy's manifest."},
        **error_responses(409),
    },
)
async def read_share_snapshot(keys: BookKeysDep, share: ShareDep) -> Response:
    """A copy share's manifest at the chapter's head now, signed (409 for a live share): every
    in-scope event's original bytes with the chain hashes, the signed head and the inclusion
    proofs that check them, and the book's public keys."""
    data = await share_snapshot(keys, share)
    return Response(data, media_type=MANIFEST_MEDIA_TYPE)


@router.get(
    "/chapters/{chapter}/manifest",
    tags=["audit"],
    response_class=Response,
    responses={200: {"content": {MANIFEST_MEDIA_TYPE: {}}, "description": "The manifest."}},
)
async def read_copy_manifest(services: ServicesDep, chapter: ReadableChapter) -> Response:
    """A copy's manifest as stored (the blob its first event, `ChapterForked`, names): with the
    chapter's events, what a client needs to check every copied event against the original's
    signed root itself (docs/log-format.md, "Copies and their manifests"); 404 for a chapter that
    is not a copy."""
    data = await copy_manifest(services.logs, services.blobs, chapter.id)
    return Response(data, media_type=MANIFEST_MEDIA_TYPE)
