"""The API's routers, one module per resource.

To add a resource: write `gateway/routes/<resource>.py` with
`router = APIRouter(prefix="/<resource>", tags=["<resource>"], responses=error_responses(...))`
and handlers named `read_<things>`, `create_<thing>`, …, then append its router to `V1_ROUTERS`.
Every router there is served under /v1 and documents the errors any route can give
(`COMMON_RESPONSES`); its tag becomes a feature in GET /v1/info.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from gateway.errors import error_responses
from gateway.routes import (
    admin,
    archives,
    audit,
    auth,
    books,
    changes,
    chapters,
    chat,
    connectors,
    heads,
    health,
    history,
    info,
    llm_settings,
    oauth,
    rerank_settings,
    retrieval_settings,
    sessions,
    share_copies,
    share_feed,
    share_guests,
    shares,
    sources,
    webapp,
)

__all__ = ["COMMON_RESPONSES", "ROOT_ROUTERS", "V1_ROUTERS", "include_routers"]

V1_ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    sessions.router,
    info.router,
    books.router,
    chapters.router,
    chat.router,
    llm_settings.router,
    retrieval_settings.router,
    rerank_settings.router,
    sources.router,
    oauth.router,
    connectors.router,
    shares.router,
    share_copies.router,
    share_feed.router,
    share_guests.router,
    audit.router,
    history.router,
    changes.router,
    heads.router,
    archives.router,
    admin.router,
)
"""Routers served under /v1."""

ROOT_ROUTERS: tuple[APIRouter, ...] = (health.router, webapp.router)
"""Routers served at the root, outside the versioned API. The web app's pages also answer, for
GET, every path no route takes outside the reserved ones (routes/webapp.py)."""

COMMON_RESPONSES = error_responses(400, 422, 429, 500)
"""Errors any /v1 route can answer: an unparsable or invalid request, too many requests, a bug."""


def include_routers(app: FastAPI) -> None:
    """Mount every router on `app`."""
    for router in V1_ROUTERS:
        app.include_router(router, prefix="/v1", responses=COMMON_RESPONSES)
    for router in ROOT_ROUTERS:
        app.include_router(router)
    webapp.install_fallback(app)
