"""The `Idempotency-Key` header: a client names one logical write, and a retry of it (after a
lost answer, a restarted server) appends nothing new and answers with what the first attempt
stored.

The key rides on the request's context to the log: every single append made while handling the
request publishes with a message id derived from it (engine/jetstream/idempotency.py), which
JetStream de-duplicates within the streams' duplicate window (docs/deploy.md). Reads ignore it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from engine.jetstream.idempotency import check_key, idempotent
from gateway.errors import error_response

__all__ = ["IDEMPOTENCY_HEADER", "IdempotencyMiddleware"]

IDEMPOTENCY_HEADER = "Idempotency-Key"
_HEADER = IDEMPOTENCY_HEADER.lower().encode()
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class IdempotencyMiddleware:
    """Carries a write's `Idempotency-Key` to its appends; 400 `invalid_idempotency_key` for a
    malformed one (a key silently ignored would let a retry write twice)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _WRITES:
            await self.app(scope, receive, send)
            return
        key = next((value for name, value in scope.get("headers", ()) if name == _HEADER), None)
        if key is None:
            await self.app(scope, receive, send)
            return
        try:
            checked = check_key(key.decode("latin-1"))
        except ValueError as exc:
            await error_response(400, "invalid_idempotency_key", str(exc))(scope, receive, send)
            return
        with idempotent(checked):
            await self.app(scope, receive, send)
