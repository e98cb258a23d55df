"""What a proxied share's guest reads, with the share's token in the `X-Share-Token` header
(never in the path or query, which access logs keep):

    GET /v1/shares/feed?after=N   the compacted events after rev N up to the relay's last tick
    GET /v1/shares/blobs/{hash}   a blob an in-scope event of the shared chapter refers to

Each request resolves the token first (`ShareDep`), so a revoked or expired share is refused (403) at once.
The relay (app/relay.py) reads the owner's log once per tick however many guests poll. The blob
route serves every mode's guests, and only blobs the share's events refer to: any other hash is
404, the answer for a blob that does not exist, so a guest learns nothing about other blobs.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from app.relay import Relay
from app.services import Services
from engine.blobs.base import check_hash
from engine.errors import BlobNotFound
from engine.rules import Conflict
from gateway.deps import ServicesDep, ShareDep
from gateway.errors import error_responses
from gateway.schemas_share_feed import ShareFeed

__all__ = ["router"]

_BlobHash = Annotated[str, Path(min_length=64, max_length=64, description="BLAKE3 hex.")]

router = APIRouter(prefix="/shares", tags=["shares"], responses=error_responses(401, 403, 404))


def _relay(services: Services) -> Relay:
    if services.relay is None:
        raise Conflict("this process serves no share feeds")
    return services.relay


@router.get("/feed", responses=error_responses(409))
async def read_share_feed(
    services: ServicesDep,
    share: ShareDep,
    after: Annotated[int, Query(ge=0, le=2**53, description="The owner's rev you hold.")] = 0,
) -> ShareFeed:
    """A proxied share's compacted events after `after`, up to the relay's last tick (with the
    owner's rev and chain head there); `after=0` gives a snapshot at once. 409 for a copy or
    direct share."""
    batch = await _relay(services).feed(share, after)
    return ShareFeed.model_validate(msgspec.to_builtins(batch))


@router.get(
    "/blobs/{hash}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The bytes."}},
)
async def read_share_blob(
    services: ServicesDep, share: ShareDep, hash: _BlobHash
) -> StreamingResponse:
    """A blob an in-scope event of the shared chapter refers to (any mode); 404 otherwise."""
    hash = check_hash(hash)
    if not await _relay(services).blob_allowed(share, hash):
        raise BlobNotFound(hash)
    size = await services.blobs.size(hash)
    headers = {"Content-Length": str(size), "X-Content-Type-Options": "nosniff"}
    return StreamingResponse(
        services.blobs.iter(hash), media_type="application/octet-stream", headers=headers
    )
