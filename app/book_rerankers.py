"""Which rerank service reorders a book's retrieved passages: its stored settings, checked, and
the clients they make.

A book's rerank settings live in the accounts store as two encrypted secrets of scope
`book:<id>`, beside its LLM settings: `rerank.config` (kind, base URL, model, depth, as JSON)
and `rerank.api_key`. The key never enters a log, an event, a response or a log line. A book
without settings uses the server's `[rerank]`; a book can also choose `none`, no reranking even
where the server has a service (its passages then go to no one else).

    rerankers = BookRerankers(services.accounts, default=server_rerank(read))
    rerank = await rerankers.for_book(book)      # app/reranking.py `Rerank`, or None
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from typing import Literal

import msgspec

from app.book_llms import (
    KEEP_KEY,
    KeepKey,
    check_base_url,
    check_key,
    forget_book_settings,
    store_book_settings,
)
from app.reranking import Rerank
from engine.accounts import AccountStore, DecryptionFailed
from engine.errors import EngineError
from engine.rules import Invalid
from projections.providers.rerank import RERANK_KINDS, Reranker

__all__ = [
    "KEEP_KEY",
    "MAX_DEPTH",
    "RERANK_CHOICES",
    "BookRerankSettings",
    "BookRerankers",
    "RerankSettingsUnreadable",
    "RerankView",
]

log = logging.getLogger(__name__)

RerankKind = Literal["none", "cohere", "jina"]
RERANK_CHOICES: tuple[str, ...] = ("none", *RERANK_KINDS)
CONFIG_SECRET = "rerank.config"
KEY_SECRET = "rerank.api_key"
DEFAULT_DEPTH = 30
MAX_DEPTH = 1000
"""The most passages a rerank request may carry (projections/providers/rerank.py)."""
_MAX_MODEL_CHARS = 200
_CACHED_CLIENTS = 32


class RerankSettingsUnreadable(EngineError):
    """A book's stored rerank settings do not decode (HTTP 500); setting them again repairs
    them. Never a silent fall-back to the server's service: the book may have chosen none."""

    code = "rerank_settings_unreadable"


class BookRerankSettings(msgspec.Struct, frozen=True, kw_only=True):
    """A book's stored rerank choice, without its key (the `rerank.config` secret)."""

    kind: RerankKind
    base_url: str | None = None
    model: str = ""
    depth: int = DEFAULT_DEPTH
    """Passages retrieved for the service to reorder (the best `k` of them are kept)."""


class RerankView(msgspec.Struct, frozen=True, kw_only=True):
    """Which rerank service a book uses, as any member may see it: never the key."""

    source: Literal["book", "server", "none"]
    """book: the book's own settings (kind `none` included); server: the server's `[rerank]`;
    none: no reranking anywhere."""
    kind: str
    model: str = ""
    base_url: str | None = None
    depth: int = DEFAULT_DEPTH
    has_api_key: bool = False


def _scope(book: str) -> str:
    return f"book:{book}"


def _normalise(settings: BookRerankSettings) -> BookRerankSettings:
    if settings.kind not in RERANK_CHOICES:
        raise Invalid(
            f"unknown rerank kind {settings.kind!r}; use one of {', '.join(RERANK_CHOICES)}"
        )
    if settings.kind == "none":
        return BookRerankSettings(kind="none")
    model = settings.model.strip()
    if not model:
        raise Invalid(f"a {settings.kind} rerank service needs a model name")
    if len(model) > _MAX_MODEL_CHARS or not model.isprintable():
        raise Invalid(f"model must be a printable name of at most {_MAX_MODEL_CHARS} characters")
    # No public endpoint is assumed: the service is wherever the book says it is.
    if not settings.base_url or not settings.base_url.strip():
        raise Invalid(f"a {settings.kind} rerank service needs its base_url")
    if not 1 <= settings.depth <= MAX_DEPTH:
        raise Invalid(f"depth must be between 1 and {MAX_DEPTH}")
    return BookRerankSettings(
        kind=settings.kind, base_url=check_base_url(settings.base_url), model=model,
        depth=settings.depth,
    )  # fmt: skip


class BookRerankers:
    """Per-book rerank settings and the clients they make.

    Clients are cached by what they are made of (kind, URL, model, a digest of the key), so a
    change made by another gateway process takes effect at the next search, and a book whose
    settings did not change reuses its connections.
    """

    def __init__(self, accounts: AccountStore, *, default: Rerank | None) -> None:
        self.accounts = accounts
        self.default = default
        self._clients: OrderedDict[tuple[str, ...], Reranker] = OrderedDict()
        self._lock = asyncio.Lock()

    async def _stored(self, book: str) -> tuple[BookRerankSettings, str | None] | None:
        try:
            raw = await self.accounts.get_secret(_scope(book), CONFIG_SECRET)
            if raw is None:
                return None
            settings = msgspec.json.decode(raw, type=BookRerankSettings)
            return settings, await self.accounts.get_secret(_scope(book), KEY_SECRET)
        except (msgspec.DecodeError, msgspec.ValidationError, DecryptionFailed):
            raise RerankSettingsUnreadable(
                f"the rerank settings of book {book} cannot be read; an owner or admin can set "
                "them again or remove them"
            ) from None

    async def view(self, book: str) -> RerankView:
        """Which service reorders the book's passages, for display."""
        stored = await self._stored(book)
        if stored is not None:
            settings, key = stored
            return RerankView(
                source="book", kind=settings.kind, model=settings.model,
                base_url=settings.base_url, depth=settings.depth, has_api_key=key is not None,
            )  # fmt: skip
        if self.default is None:
            return RerankView(source="none", kind="none")
        server = self.default.reranker
        return RerankView(
            source="server", kind=server.kind, model=server.model, depth=self.default.depth
        )

    async def put(
        self, book: str, settings: BookRerankSettings, *, api_key: str | KeepKey | None = KEEP_KEY
    ) -> RerankView:
        """Store the book's settings. `api_key`: a new key, None for none, or `KEEP_KEY` to keep
        the stored one as long as kind and base URL stay the same (a key never follows its
        settings to another service).

        Raises Invalid (or ProviderConfigError) for settings that cannot work, storing nothing.
        """
        settings = _normalise(settings)
        try:
            old = await self._stored(book)
        except RerankSettingsUnreadable:
            old = None  # what cannot be read is replaced, never kept
        if isinstance(api_key, KeepKey):
            same_place = old is not None and (old[0].kind, old[0].base_url) == (
                settings.kind,
                settings.base_url,
            )
            key = old[1] if same_place and old is not None else None
        else:
            key = check_key(api_key) if api_key else None
        if settings.kind == "none":
            key = None
        else:
            await self._client(settings, key)  # fails now, not at the first search
        await store_book_settings(self.accounts, book, (CONFIG_SECRET, KEY_SECRET), settings, key)
        return await self.view(book)

    async def delete(self, book: str) -> RerankView:
        """Forget the book's settings: the server's `[rerank]` applies again."""
        await forget_book_settings(self.accounts, book, (CONFIG_SECRET, KEY_SECRET))
        return await self.view(book)

    async def for_book(self, book: str) -> Rerank | None:
        """The book's rerank service, else the server's; None means no reranking."""
        stored = await self._stored(book)
        if stored is None:
            return self.default
        settings, key = stored
        if settings.kind == "none":
            return None
        return Rerank(await self._client(settings, key), settings.depth)

    async def _client(self, settings: BookRerankSettings, key: str | None) -> Reranker:
        digest = hashlib.sha256(key.encode()).hexdigest() if key else ""
        fingerprint = (settings.kind, settings.base_url or "", settings.model, digest)
        async with self._lock:
            client = self._clients.get(fingerprint)
            if client is None:
                client = Reranker(
                    kind=settings.kind, base_url=settings.base_url or "", model=settings.model,
                    api_key=key,
                )  # fmt: skip
                self._clients[fingerprint] = client
                # An evicted client may be mid-request: it is dropped, not closed.
                while len(self._clients) > _CACHED_CLIENTS:
                    self._clients.popitem(last=False)
            self._clients.move_to_end(fingerprint)
            return client

    async def aclose(self) -> None:
        """Close every cached client (not the server's: its owner closes it)."""
        clients, self._clients = list(self._clients.values()), OrderedDict()
        for client in clients:
            try:
                await client.aclose()
            except Exception as exc:  # closing must not stop the others from closing
                log.debug("closing the %s rerank client failed: %r", client.kind, exc)
