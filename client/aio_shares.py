"""The sharing half of `AsyncClient`: grant, list and revoke a chapter's shares (as its owner),
accept a share into one of your books, and connect a share's token to what it opens.

The token is a bearer secret of the share, not an API token: `connect_share` needs no account
(it is what `ragstack follow` calls first); `accept_share` files the share into the caller's
book on the server the client talks to, which fetches from the owner's server when `from_url`
names another one. The guest's own routes are `AsyncShareClient`'s (client/aio_guest.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar
from urllib.parse import quote

from client.models import Chapter, Share
from client.models_shares import ShareConnection, ShareCreated
from client.wire import convert, items

__all__ = ["ShareCalls", "token_path"]

T = TypeVar("T")


def token_path(token: str, action: str) -> str:
    """`/v1/shares/{token}/{action}`, the token quoted (it travels in the path on these two)."""
    return f"/v1/shares/{quote(token, safe='')}/{action}"


class ShareCalls:
    """Mixed into `AsyncClient`, which provides `request` and `_typed`."""

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def _typed(self, kind: type[T], method: str, path: str, **kwargs: Any) -> T:
        raise NotImplementedError

    async def share(
        self,
        chapter: str,
        *,
        mode: str,
        to: str,
        permissions: Iterable[str] = (),
        scope: Iterable[str] | None = None,
        expires_at: int | None = None,
    ) -> ShareCreated:
        """Share a chapter with `to` (an e-mail address): `mode` copy, proxied or direct;
        `permissions` among add, remove, edit, prompt_passthrough; `scope` among sources, notes,
        threads (None: sources and notes); `expires_at` in unix ms. The answer's `token` is
        shown this once."""
        body: dict[str, Any] = {
            "mode": mode,
            "grantee": to,
            "permissions": list(permissions),
            "scope": None if scope is None else list(scope),
            "expires_at": expires_at,
        }
        path = f"/v1/chapters/{chapter}/shares"
        return await self._typed(ShareCreated, "POST", path, json_body=body)

    async def shares(self, chapter: str) -> list[Share]:
        """A chapter's shares in force, in the order granted (never their tokens)."""
        data = await self.request("GET", f"/v1/chapters/{chapter}/shares")
        return convert(items(data, "shares"), list[Share])

    async def revoke_share(self, chapter: str, share: str) -> None:
        """End a share at once: its token opens nothing from now on."""
        await self.request("DELETE", f"/v1/chapters/{chapter}/shares/{share}")

    async def accept_share(
        self, token: str, *, book: str | None = None, from_url: str | None = None
    ) -> Chapter:
        """Accept a share into one of your books (default: your first): a copy becomes a
        chapter of yours, a live share a mirror chapter. `from_url` names the owner's server
        when it is not the one this client talks to."""
        body = {"book": book, "from": from_url}
        return await self._typed(
            Chapter, "POST", token_path(token, "accept"), json_body=body, slow=True
        )

    async def connect_share(self, token: str) -> ShareConnection:
        """What a share's token opens on this server (no account needed): the chapter, its
        mode and head, and for a direct share NATS credentials issued to you."""
        return await self._typed(ShareConnection, "POST", token_path(token, "connect"))
