"""Signed tree heads and book keys over HTTP.

POST /v1/chapters/{chapter}/heads signs the chapter's head now (owner and admins; the worker
signs after changes by itself, app/heads.py). GET /v1/books/{book}/keys lists the book's keys for
any member, with the revs and times each was valid and the rotation signatures, so that a
client can check signed heads itself (client/chain.py); POST /v1/books/{book}/keys rotates the key
(owner and admins; the old key signs the new one).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, status

from engine.keys import BookKeys
from events import HeadSigned
from events.keys import KeyHistory
from gateway.deps import CurrentUser, ReadableChapter, ServicesDep
from gateway.errors import error_responses
from gateway.routes.books import MemberBook
from gateway.schemas_heads import BookKeyPublic, BookKeysPublic, HeadSignedPublic

__all__ = ["BookKeysDep", "keys_public", "router"]

router = APIRouter(tags=["heads"], responses=error_responses(401, 403, 404, 409))


def get_book_keys(services: ServicesDep) -> BookKeys:
    """The process's `BookKeys`."""
    assert services.keys is not None, "open_services makes the keys"
    return services.keys


BookKeysDep = Annotated[BookKeys, Depends(get_book_keys)]
"""Books' signing keys."""


def keys_public(history: KeyHistory) -> BookKeysPublic:
    """A key history as the keys route shows it."""
    current = history.current
    return BookKeysPublic(
        book=history.book,
        current=current.key if current is not None else None,
        keys=[BookKeyPublic.model_validate(msgspec.to_builtins(k)) for k in history.keys],
        ok=not history.failed,
        bad_book_rev=history.bad_rev,
        reason=history.reason,
    )


@router.post("/chapters/{chapter}/heads", status_code=status.HTTP_201_CREATED)
async def create_head(
    services: ServicesDep, user: CurrentUser, chapter: ReadableChapter, keys: BookKeysDep
) -> HeadSignedPublic:
    """Sign the chapter's head and Merkle root now with the book's key (owner and admins)."""
    recorded = await keys.sign_head(user.id, chapter.id)
    assert recorded is not None  # only the worker's signer is told "nothing to sign"
    body = recorded.envelope.body
    assert isinstance(body, HeadSigned)
    return HeadSignedPublic(
        chapter=chapter.id,
        rev=recorded.rev,
        signed_rev=body.rev,
        head=body.head,
        root=body.root,
        key=body.key,
        signature=body.signature,
    )


@router.get("/books/{book}/keys")
async def read_book_keys(book: MemberBook, keys: BookKeysDep) -> BookKeysPublic:
    """The book's signing keys, current and past, with their rotation signatures."""
    return keys_public(await keys.history(book.id))


@router.post("/books/{book}/keys", status_code=status.HTTP_201_CREATED)
async def rotate_book_key(book: MemberBook, user: CurrentUser, keys: BookKeysDep) -> BookKeysPublic:
    """Replace the book's key (owner and admins): the old key signs the new one."""
    await keys.rotate(user.id, book.id)
    return keys_public(await keys.history(book.id))
