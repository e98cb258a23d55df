"""GET /v1/info: what this server is and offers, for clients deciding what they can do."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ConfigDict

from gateway.deps import ServicesDep

__all__ = ["InfoPublic", "LimitsPublic", "router", "server_version"]


class LimitsPublic(BaseModel):
    """Limits a client should respect before it is refused."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    upload_bytes: int
    """Largest upload accepted (413 past it)."""
    event_bytes: int
    """Largest event a log accepts."""
    requests_per_minute_token: int
    """Requests a minute per API token (0: no limit)."""
    requests_per_minute_address: int
    """Requests a minute per client address without a token (0: no limit)."""


class InfoPublic(BaseModel):
    """This server."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    name: str = "ragstack"
    version: str
    """The ragstack distribution's version."""
    features: list[str]
    """The API's resource groups this server serves ("auth", "books", …)."""
    limits: LimitsPublic


@cache
def server_version() -> str:
    try:
        return version("ragstack")
    except PackageNotFoundError:
        return "0+unknown"


router = APIRouter(tags=["info"])


@router.get("/info")
async def read_info(request: Request, services: ServicesDep) -> InfoPublic:
    """Version, features and limits; needs no token."""
    # Features are the tags of the routers served under /v1, so a new router shows up by itself.
    features = sorted(
        {
            tag
            for context in iter_route_contexts(request.app.routes)
            if isinstance(context.original_route, APIRoute)
            and (context.path_format or "").startswith("/v1/")
            for tag in context.original_route.tags
            if isinstance(tag, str) and tag != "info"
        }
    )
    limits = services.settings.limits
    return InfoPublic(
        version=server_version(),
        features=features,
        limits=LimitsPublic(
            upload_bytes=limits.upload_bytes,
            event_bytes=limits.event_bytes,
            requests_per_minute_token=limits.requests_per_minute_token,
            requests_per_minute_address=limits.requests_per_minute_address,
        ),
    )
