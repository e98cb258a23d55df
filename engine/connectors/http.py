"""The HTTP side every connector shares: plain httpx under a configurable base URL.

- The base URL is checked (http or https, a host, no credentials, query or fragment) and every
  connection dials public addresses only, checked at connect time like web pages are
  (`engine.webpages.guarded_transport`), unless the operator's `[web] allow_private_addresses`
  is on (a self-hosted Confluence on the LAN; the tests' local servers). A user's base URL
  never lifts the rule.
- 429 and 503 are waited out: `Retry-After` (seconds or an HTTP date), capped; Zotero's
  `Backoff` on any answer delays the next request; a connector may say which other answers are
  a throttle too (`throttled`: Drive's 403 `rateLimitExceeded`).
- 401 and 403 are `CredentialRejected`, a clear error the connector's status shows; the
  credential itself never appears in a message, a log line or a URL (it travels in a header).
  An OAuth connector's `auth` gives the `Authorization` header per request and is asked for a
  renewed one after a 401, once per request, before the 401 counts as a refusal.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from engine.connectors import ConnectorError, ConnectorUnavailable, CredentialRejected
from engine.rules import Invalid
from engine.webpages import AddressRefused, guarded_transport

__all__ = ["ServiceClient", "check_base_url"]

Sleep = Callable[[float], Awaitable[None]]
Auth = Callable[[bool], Awaitable[str]]
"""The `Authorization` header's value; called with True after a 401 to renew it."""
Throttled = Callable[[httpx.Response], bool]
"""Whether an answer other than 429/503 asks to slow down (Drive's 403 `rateLimitExceeded`)."""
TRIES = 6
"""Requests tried per call when the service asks us to wait or fails with a 5xx."""
MAX_WAIT_S = 300.0
"""The longest single wait a service may ask for; longer is ConnectorUnavailable."""


def check_base_url(url: str) -> str:
    """The base URL without a trailing slash; Invalid for anything but plain http(s)://host/…"""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(
            f"the base URL must start with https:// (or http://) and name a host: {url!r}"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise Invalid("the base URL may not carry credentials, a query or a fragment")
    return url.strip().rstrip("/")


def _wait_of(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class ServiceClient:
    """GETs against one service, with its waits, retries and errors."""

    def __init__(
        self,
        base_url: str,
        *,
        service: str,
        headers: Mapping[str, str],
        allow_private: bool = False,
        sleep: Sleep = asyncio.sleep,
        max_wait_s: float = MAX_WAIT_S,
        timeout_s: float = 60.0,
        auth: Auth | None = None,
        throttled: Throttled | None = None,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self.auth = auth
        self.throttled = throttled
        self.service = service
        self.sleep = sleep
        self.max_wait_s = max_wait_s
        self.waited_s = 0.0
        """Seconds spent waiting on the service's say-so (tests and progress read it)."""
        self._backoff = 0.0
        self._client = httpx.AsyncClient(
            headers=dict(headers),
            timeout=timeout_s,
            follow_redirects=True,
            transport=guarded_transport(
                allow_private,
                refusal=f"{service} must be at a public address (an operator may allow private"
                " networks with [web] allow_private_addresses)",
            ),
        )

    async def close(self) -> None:
        await self._client.aclose()

    def url(self, path: str) -> str:
        """An absolute URL under the base URL (a full URL the service gave is kept)."""
        if path.startswith(("http://", "https://")):
            return path
        return urljoin(self.base_url + "/", path.lstrip("/"))

    async def get(
        self, path: str, *, params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None, ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:  # fmt: skip
        """The answer to GET `path`; statuses in `ok` are answers, the rest errors."""
        return await self.request("GET", path, params=params, headers=headers, ok=ok)

    async def post(
        self, path: str, *, json: Any, headers: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:  # fmt: skip
        """The answer to POST `path` with a JSON body (a query, never a change: connectors
        only read)."""
        return await self.request("POST", path, json=json, headers=headers, ok=ok)

    async def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
        json: Any = None, headers: Mapping[str, str] | None = None, ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:  # fmt: skip
        """The answer to `method` `path`, with the waits, retries and errors above."""
        url = self.url(path)
        renewed = renew_now = False
        for attempt in range(TRIES):
            if self._backoff:
                await self._wait(self._backoff)
                self._backoff = 0.0
            sent = dict(headers or {})
            if self.auth is not None:
                sent["Authorization"] = await self.auth(renew_now)
                renew_now = False
            try:
                response = await self._client.request(
                    method, url, params=params, json=json, headers=sent
                )
            except AddressRefused as exc:
                raise ConnectorError(str(exc)) from None
            except httpx.HTTPError as exc:
                if attempt + 1 < TRIES and isinstance(exc, httpx.TransportError):
                    await self._wait(min(2.0**attempt, 30.0))
                    continue
                raise ConnectorUnavailable(f"{self.service} cannot be reached: {exc}") from None
            backoff = _wait_of(response.headers.get("Backoff"))
            if backoff:
                self._backoff = backoff
            if response.status_code in ok:
                return response
            slow = self.throttled is not None and self.throttled(response)
            if response.status_code in (429, 503) or response.status_code >= 500 or slow:
                wait = _wait_of(response.headers.get("Retry-After"))
                if wait is None:
                    wait = min(2.0**attempt, 30.0)
                if wait > self.max_wait_s:
                    raise ConnectorUnavailable(
                        f"{self.service} asks to wait {wait:.0f} s (HTTP {response.status_code}),"
                        f" longer than {self.max_wait_s:.0f} s; the next sync tries again"
                    )
                if attempt + 1 < TRIES:
                    await self._wait(wait)
                    continue
                raise ConnectorUnavailable(
                    f"{self.service} still answers HTTP {response.status_code} after {TRIES} tries"
                )
            if response.status_code == 401 and self.auth is not None and not renewed:
                renewed = renew_now = True  # an access token expired early: renew it once
                continue
            if response.status_code in (401, 403):
                raise CredentialRejected(
                    f"{self.service} refused the credential (HTTP {response.status_code}): it"
                    " has expired, been revoked or lacks access; configure the connector with"
                    " a new one"
                )
            raise ConnectorError(
                f"{self.service} answered HTTP {response.status_code} for {urlsplit(url).path}"
            )
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _wait(self, seconds: float) -> None:
        self.waited_s += seconds
        await self.sleep(seconds)
