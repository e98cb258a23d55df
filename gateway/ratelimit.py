"""Request rate limits per API token and per client address: in-memory token buckets.

A request that carries a bearer token, or a browser's session cookie, is charged to that token's
bucket (`limits.requests_per_minute_token`); one without is charged to its client address
(`limits.requests_per_minute_address`). A token that fails to authenticate is charged to the
address as well (see gateway/deps.py), so guessing tokens, or sending a fresh garbage token with
every request, runs into the address limit. A limit of 0 turns that limit off.

The buckets live in this process: with several gateway processes each enforces its own limits,
which bounds abuse per process and needs no shared store. Health probes and metrics scrapes are
exempt, so that a busy operator network never makes a healthy server look down; so are the web
app's static files (`/assets/…`), so that loading the app costs a session none of its requests.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from engine.settings import Limits
from gateway.errors import RateLimited, error_response
from gateway.session_cookies import session_token

__all__ = [
    "EXEMPT_PATHS",
    "EXEMPT_PREFIXES",
    "RateLimitMiddleware",
    "RateLimiter",
    "RateLimits",
    "bearer_token",
    "client_address",
]

EXEMPT_PATHS: frozenset[str] = frozenset({"/health", "/health/ready", "/metrics"})
"""Paths never limited."""
EXEMPT_PREFIXES: tuple[str, ...] = ("/assets/",)
"""Path prefixes never limited: the web app's hashed, immutable static files."""

_DEFAULT_MAX_KEYS = 100_000


class RateLimiter:
    """Token buckets keyed by string: `per_minute` requests a minute, bursts up to `per_minute`."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = _DEFAULT_MAX_KEYS,
    ) -> None:
        if per_minute < 0:
            raise ValueError("a rate limit cannot be negative (0 turns it off)")
        self.per_minute = per_minute
        self._capacity = float(per_minute)
        self._refill_per_s = per_minute / 60.0
        self._clock = clock
        self._max_keys = max_keys
        # key -> (tokens left, time of last update); insertion order is least recently used first.
        self._buckets: dict[str, tuple[float, float]] = {}

    @property
    def enabled(self) -> bool:
        """False when the limit is 0 (off)."""
        return self.per_minute > 0

    def acquire(self, key: str) -> float:
        """Take one request from `key`'s bucket: 0.0 if allowed, else the seconds until one is."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        tokens, last = self._buckets.pop(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - last) * self._refill_per_s)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self._refill_per_s
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max_keys:
            self._prune(now)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)

    def _prune(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket: forget those first, then the
        # least recently used, down to 90% so that pruning does not run on every request.
        target = int(self._max_keys * 0.9)
        for key, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self._refill_per_s >= self._capacity:
                del self._buckets[key]
        while len(self._buckets) > target:
            del self._buckets[next(iter(self._buckets))]


def bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The token of an `Authorization: Bearer …` header in raw ASGI headers, if any."""
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            if scheme.lower() == "bearer" and token:
                return token
            return None
    return None


def _retry_after(wait: float) -> int:
    return max(1, math.ceil(wait))


class RateLimits:
    """The two limiters of an app, built from `Limits`."""

    def __init__(self, limits: Limits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.token = RateLimiter(limits.requests_per_minute_token, clock=clock)
        self.address = RateLimiter(limits.requests_per_minute_address, clock=clock)

    def check_token(self, token: str) -> None:
        """Charge one request to `token`; RateLimited if its bucket is empty."""
        # Keyed by a digest, so the limiter's memory holds no usable credential.
        key = hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()
        _charge(self.token, key, "with this API token")

    def check_address(self, address: str) -> None:
        """Charge one request to a client address; RateLimited if its bucket is empty."""
        _charge(self.address, address, "from this address")


def _charge(limiter: RateLimiter, key: str, whose: str) -> None:
    wait = limiter.acquire(key)
    if wait:
        retry_after = _retry_after(wait)
        raise RateLimited(
            f"too many requests {whose} (limit {limiter.per_minute} a minute);"
            f" retry in {retry_after} s",
            retry_after=retry_after,
        )


def client_address(scope: Scope) -> str:
    """The client's address as the server saw it (uvicorn's proxy_headers set it behind a proxy)."""
    client = scope.get("client")
    return client[0] if client else "unknown"


class RateLimitMiddleware:
    """Refuses a request over its limit with 429, `Retry-After` and the JSON error shape."""

    def __init__(
        self, app: ASGIApp, *, limits: RateLimits, exempt: frozenset[str] = EXEMPT_PATHS
    ) -> None:
        self.app = app
        self.limits = limits
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in self.exempt or path.startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope.get("headers", ())) or session_token(scope)
        try:
            if token is not None:
                self.limits.check_token(token)
            else:
                self.limits.check_address(client_address(scope))
        except RateLimited as exc:
            response = error_response(exc.status, exc.code, exc.message, headers=exc.headers)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
