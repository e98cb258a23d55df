"""Which LLM answers a book: its stored settings, checked, and the clients they make.

A book's LLM settings live in the accounts store as two encrypted secrets of scope `book:<id>`:
`llm.config` (kind, model, base URL, as JSON) and `llm.api_key`. The key never enters a log, an
event, a response or a log line.

    llms = BookLLMs(services.accounts, default=worker.llm)
    llm = await llms.for_book(book)                       # the book's, else the server's, else None
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from typing import Literal, cast
from urllib.parse import urlsplit

import msgspec

from app.configured import DEFAULT_MODELS
from engine.accounts import AccountStore, DecryptionFailed
from engine.errors import EngineError
from engine.rules import Invalid
from projections.providers import LLM, ProviderConfig, make_llm

__all__ = [
    "ANSWERER_KINDS",
    "KEEP_KEY",
    "AnswererKind",
    "BookLLMSettings",
    "BookLLMs",
    "KeepKey",
    "LLMChoice",
    "LLMSettingsUnreadable",
    "check_base_url",
    "check_key",
    "forget_book_settings",
    "store_book_settings",
]

log = logging.getLogger(__name__)

AnswererKind = Literal["openai", "gemini", "ollama", "anthropic", "extractive"]
ANSWERER_KINDS: tuple[str, ...] = ("openai", "gemini", "ollama", "anthropic", "extractive")
CONFIG_SECRET = "llm.config"
KEY_SECRET = "llm.api_key"
_MAX_MODEL_CHARS = 200
_MAX_URL_CHARS = 2000
_MAX_KEY_CHARS = 4096
# Public endpoints that bill someone: a book must bring its own key, never borrow the server's.
_KEYED_KINDS = frozenset({"openai", "gemini", "anthropic"})
_CACHED_LLMS = 32


class LLMSettingsUnreadable(EngineError):
    """A book's stored LLM settings do not decode (HTTP 500); setting them again repairs them.

    Never a silent fall-back to the server's LLM: the book may have chosen to send its passages
    to no LLM at all."""

    code = "llm_settings_unreadable"


class BookLLMSettings(msgspec.Struct, frozen=True, kw_only=True):
    """A book's stored LLM choice, without its key (the `llm.config` secret)."""

    kind: AnswererKind
    model: str = ""
    base_url: str | None = None


class LLMChoice(msgspec.Struct, frozen=True, kw_only=True):
    """Which answerer a book uses, as any member may see it: never the key."""

    source: Literal["book", "server", "none"]
    """book: the book's own settings; server: the server's default; none: extractive answers."""
    kind: str
    model: str
    base_url: str | None = None
    has_api_key: bool = False


class _Keep:
    """The `api_key` argument meaning: keep the stored key if the endpoint stays the same."""


KEEP_KEY = _Keep()
KeepKey = _Keep
"""The type of KEEP_KEY (the book's rerank settings take it too, app/book_rerankers.py)."""


def _scope(book: str) -> str:
    return f"book:{book}"


async def store_book_settings(
    accounts: AccountStore, book: str, names: tuple[str, str], settings: object, key: str | None
) -> None:
    """Store a book's settings and key (`names`: the two secrets' names, config then key) in
    the secret box. The old key goes first: at no moment may a key sit beside settings naming
    another service, even if this process dies between the writes."""
    config_name, key_name = names
    scope = _scope(book)
    await accounts.delete_secret(scope, key_name)
    await accounts.put_secret(scope, config_name, msgspec.json.encode(settings).decode())
    if key is not None:
        await accounts.put_secret(scope, key_name, key)


async def forget_book_settings(accounts: AccountStore, book: str, names: tuple[str, str]) -> None:
    """Delete what `store_book_settings` stored under `names`, the key first."""
    config_name, key_name = names
    await accounts.delete_secret(_scope(book), key_name)
    await accounts.delete_secret(_scope(book), config_name)


def check_base_url(url: str) -> str:
    """`url` trimmed, or Invalid: an http(s) URL with a host and no credentials, query or
    fragment (a book's settings are shown to its members). The book's rerank service too."""
    url = url.strip()
    if len(url) > _MAX_URL_CHARS:
        raise Invalid(f"base_url can be at most {_MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise Invalid("base_url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("base_url must be an http:// or https:// URL with a host")
    # Credentials in a URL would be shown to every member: they belong in api_key.
    if parts.username is not None or parts.password is not None:
        raise Invalid("base_url must not carry credentials; put the key in api_key")
    if parts.query or parts.fragment:
        raise Invalid("base_url must not have a query or fragment; put a key in api_key")
    return url


def check_key(key: str) -> str:
    """`key`, or Invalid (without repeating it) when too long or holding spaces."""
    # The key's text is never repeated in a message: a typo in it is still a secret.
    if len(key) > _MAX_KEY_CHARS:
        raise Invalid(f"api_key can be at most {_MAX_KEY_CHARS} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in key):
        raise Invalid("api_key cannot contain spaces or control characters")
    return key


def _normalise(settings: BookLLMSettings) -> BookLLMSettings:
    if settings.kind not in ANSWERER_KINDS:
        raise Invalid(f"unknown LLM kind {settings.kind!r}; use one of {', '.join(ANSWERER_KINDS)}")
    if settings.kind == "extractive":
        return BookLLMSettings(kind="extractive")
    model = settings.model.strip() or DEFAULT_MODELS["chat"][settings.kind]
    if len(model) > _MAX_MODEL_CHARS or not model.isprintable():
        raise Invalid(f"model must be a printable name of at most {_MAX_MODEL_CHARS} characters")
    base_url = check_base_url(settings.base_url) if settings.base_url else None
    return BookLLMSettings(kind=settings.kind, model=model, base_url=base_url)


class BookLLMs:
    """Per-book LLM settings and the LLM clients they make.

    Clients are cached by what they are made of (kind, model, URL, a digest of the key), so a
    settings change made by another gateway process takes effect at the next question, and a
    book whose settings did not change reuses its connection pool.
    """

    def __init__(self, accounts: AccountStore, *, default: LLM | None) -> None:
        self.accounts = accounts
        self.default = default
        self._llms: OrderedDict[tuple[str, ...], LLM] = OrderedDict()
        self._lock = asyncio.Lock()

    async def _stored(self, book: str) -> tuple[BookLLMSettings, str | None] | None:
        raw = await self.accounts.get_secret(_scope(book), CONFIG_SECRET)
        if raw is None:
            return None
        try:
            settings = msgspec.json.decode(raw, type=BookLLMSettings)
        except msgspec.DecodeError:
            raise LLMSettingsUnreadable(
                f"the LLM settings of book {book} cannot be read; an owner or admin can set "
                "them again or remove them"
            ) from None
        return settings, await self.accounts.get_secret(_scope(book), KEY_SECRET)

    async def choice(self, book: str) -> LLMChoice:
        """What answers the book's questions, for display."""
        stored = await self._stored(book)
        if stored is not None:
            settings, key = stored
            return LLMChoice(
                source="book",
                kind=settings.kind,
                model=settings.model,
                base_url=settings.base_url,
                has_api_key=key is not None,
            )
        if self.default is None:
            return LLMChoice(source="none", kind="extractive", model="")
        kind, _, model = self.default.name.partition(":")
        return LLMChoice(source="server", kind=kind, model=model or kind)

    async def put(
        self, book: str, settings: BookLLMSettings, *, api_key: str | _Keep | None = KEEP_KEY
    ) -> LLMChoice:
        """Store the book's settings. `api_key`: a new key, None for none, or `KEEP_KEY` to keep
        the stored one as long as kind and base URL stay the same (a key never follows its
        settings to another endpoint).

        Raises Invalid (or ProviderConfigError) for settings that cannot work, storing nothing.
        """
        settings = _normalise(settings)
        try:
            old = await self._stored(book)
        except (LLMSettingsUnreadable, DecryptionFailed):
            old = None  # what cannot be read is replaced, never kept
        if isinstance(api_key, _Keep):
            same_place = old is not None and (old[0].kind, old[0].base_url) == (
                settings.kind,
                settings.base_url,
            )
            key = old[1] if same_place and old is not None else None
        else:
            key = check_key(api_key) if api_key else None
        if settings.kind == "extractive":
            key = None
        elif settings.kind in _KEYED_KINDS and settings.base_url is None and key is None:
            raise Invalid(
                f"{settings.kind} at its public endpoint needs an api_key "
                "(or a base_url of a compatible server)"
            )
        else:
            await self._client(settings, key)  # fails now, not at the first question
        await store_book_settings(self.accounts, book, (CONFIG_SECRET, KEY_SECRET), settings, key)
        return await self.choice(book)

    async def delete(self, book: str) -> LLMChoice:
        """Forget the book's settings: the server's default answers again."""
        await forget_book_settings(self.accounts, book, (CONFIG_SECRET, KEY_SECRET))
        return await self.choice(book)

    async def for_book(self, book: str) -> LLM | None:
        """The book's LLM, else the server's default; None means extractive answers."""
        stored = await self._stored(book)
        if stored is None:
            return self.default
        settings, key = stored
        if settings.kind == "extractive":
            return None
        return await self._client(settings, key)

    async def _client(self, settings: BookLLMSettings, key: str | None) -> LLM:
        digest = hashlib.sha256(key.encode()).hexdigest() if key else ""
        fingerprint = (settings.kind, settings.model, settings.base_url or "", digest)
        async with self._lock:
            llm = self._llms.get(fingerprint)
            if llm is None:
                llm = make_llm(
                    ProviderConfig(
                        kind=cast(
                            "Literal['openai', 'gemini', 'ollama', 'anthropic']", settings.kind
                        ),
                        model=settings.model,
                        base_url=settings.base_url,
                        api_key=key,
                    )
                )
                self._llms[fingerprint] = llm
                # An evicted client may be mid-answer: it is dropped, not closed, and its pool
                # goes with the last answer that holds it.
                while len(self._llms) > _CACHED_LLMS:
                    self._llms.popitem(last=False)
            self._llms.move_to_end(fingerprint)
            return llm

    async def aclose(self) -> None:
        """Close every cached client (not the server's default: its owner closes it)."""
        llms, self._llms = list(self._llms.values()), OrderedDict()
        for llm in llms:
            close = getattr(llm, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception as exc:  # closing must not stop the others from closing
                    log.debug("closing %s failed: %r", llm.name, exc)
