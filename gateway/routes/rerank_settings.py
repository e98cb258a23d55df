"""A book's rerank settings over HTTP: which rerank service reorders its retrieved passages.

Any member may see which service it is (GET); the owner and admins change it (PUT: cohere or
jina, or none for no reranking) or go back to the server's `[rerank]` (DELETE). The API key is
write-only: stored encrypted in the accounts store (app/book_rerankers.py), answers only say
`has_api_key`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.book_rerankers import (
    DEFAULT_DEPTH,
    KEEP_KEY,
    MAX_DEPTH,
    BookRerankSettings,
    RerankView,
)
from gateway.deps import CurrentUser, ServicesDep
from gateway.errors import error_responses
from gateway.routes.books import MemberBook
from gateway.schemas import WholeFloatsAsInt
from gateway.schemas_llm import MODEL_PATTERN, ApiKey, BaseUrl, full_match

__all__ = ["RerankSettingsPublic", "RerankSettingsUpdate", "router"]


class RerankSettingsUpdate(BaseModel):
    """The rerank service a book's retrieved passages go to, or none."""

    model_config = ConfigDict(
        use_attribute_docstrings=True,
        extra="forbid",
        strict=True,
        json_schema_extra={
            "if": {"required": ["kind"], "properties": {"kind": {"enum": ["cohere", "jina"]}}},
            "then": {
                "required": ["base_url", "model"],
                "properties": {
                    "base_url": {"type": "string", "minLength": 1},
                    "model": {"type": "string", "minLength": 1, "pattern": r"\S"},
                },
            },
        },
    )

    kind: Literal["none", "cohere", "jina"]
    """The API spoken: cohere (`/v2/rerank`) or jina (`/v1/rerank`), at `base_url`; or none
    (no reranking for this book, whatever the server's)."""
    base_url: BaseUrl = None
    """Where the service is (the kind's path is added). No credentials or query in it."""
    model: Annotated[
        str,
        Field(max_length=200, json_schema_extra={"pattern": MODEL_PATTERN}),
        full_match(MODEL_PATTERN, "model must be printable ASCII"),
    ] = ""
    """The rerank model's name."""
    depth: Annotated[int, Field(ge=1, le=MAX_DEPTH), WholeFloatsAsInt] = DEFAULT_DEPTH
    """Passages retrieved for the service to reorder (the best `k` of them are kept)."""
    api_key: ApiKey = None
    """The key, stored encrypted and never shown again. Leave it out to keep the stored key (kept
    only while kind and base_url stay the same); null or "" for no key."""


class RerankSettingsPublic(BaseModel):
    """Which rerank service reorders a book's passages (never the key)."""

    model_config = ConfigDict(use_attribute_docstrings=True, from_attributes=True)

    source: Literal["book", "server", "none"]
    """book: the book's own settings (kind none included); server: the server's `[rerank]`;
    none: no reranking."""
    kind: str
    """cohere, jina or none."""
    model: str = ""
    base_url: str | None = None
    """The book's service URL; null for the server's."""
    depth: int
    """Passages retrieved for the service to reorder."""
    has_api_key: bool = False
    """Whether the book has a key stored."""


def _public(view: RerankView) -> RerankSettingsPublic:
    return RerankSettingsPublic.model_validate(view)


router = APIRouter(tags=["retrieval"], responses=error_responses(401, 403, 404))


@router.get("/books/{book}/rerank")
async def read_rerank_settings(book: MemberBook, services: ServicesDep) -> RerankSettingsPublic:
    """Which rerank service reorders this book's passages: its own, the server's, or none."""
    return _public(await services.rerankers.view(book.id))


@router.put("/books/{book}/rerank")
async def update_rerank_settings(
    body: RerankSettingsUpdate, book: MemberBook, user: CurrentUser, services: ServicesDep
) -> RerankSettingsPublic:
    """Set the book's rerank service, or none (owner and admins); settings that cannot work
    are refused (422)."""
    book.require_admin(user.id)
    if "api_key" in body.model_fields_set:
        api_key = body.api_key.get_secret_value() if body.api_key is not None else None
    else:
        api_key = KEEP_KEY
    settings = BookRerankSettings(
        kind=body.kind, base_url=body.base_url or None, model=body.model, depth=body.depth
    )
    return _public(await services.rerankers.put(book.id, settings, api_key=api_key))


@router.delete("/books/{book}/rerank")
async def delete_rerank_settings(
    book: MemberBook, user: CurrentUser, services: ServicesDep
) -> RerankSettingsPublic:
    """Forget the book's settings and key (owner and admins): the server's `[rerank]` applies."""
    book.require_admin(user.id)
    return _public(await services.rerankers.delete(book.id))
