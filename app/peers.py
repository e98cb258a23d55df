"""The owner's server as a guest's server reaches it with a share's token.

    peer = open_peer(services, token, from_url)   # HttpPeer for another server, LocalPeer here
    connection = await peer.connect()
    batch = await peer.feed(after=rev)             # proxied shares
    data = await peer.blob(hash)                   # a blob an in-scope event references
    manifest = await peer.snapshot()               # copy shares

Another server is called over its public HTTP API (the routes of gateway/routes/shares.py and
share_feed.py), through a transport that dials public addresses only, unless the operator's
`[sharing] allow_private_peers` allows loopback and private networks too. The same server is
called in process, through the same application functions its routes use.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx
import msgspec

from app.relay import FeedBatch
from app.services import Services
from app.shares import Connection
from engine.accounts import InvalidShareToken
from engine.blobs import blob_hash
from engine.errors import EngineError
from engine.rules import Invalid
from engine.shares import ShareEnded, ShareForbidden
from engine.webpages import check_url, guarded_transport

__all__ = [
    "SHARE_TOKEN_HEADER",
    "FeedBatch",
    "HttpPeer",
    "Peer",
    "PeerUnavailable",
    "open_peer",
]

SHARE_TOKEN_HEADER = "X-Share-Token"
PEER_TIMEOUT_S = 30.0


class PeerUnavailable(EngineError):
    """The owner's server did not answer as a RagStack server should (HTTP 502)."""

    code = "peer_unavailable"


_batch_decoder = msgspec.json.Decoder(FeedBatch)


class Peer(Protocol):
    """The owner's server, for one share."""

    async def connect(self) -> Connection:
        """What the share opens now (a direct share's credentials are issued here)."""
        ...

    async def feed(self, after: int) -> FeedBatch:
        """A proxied share's next batch after the owner's rev `after` (0: a snapshot)."""
        ...

    async def blob(self, hash: str) -> bytes:
        """A blob an in-scope event references, checked against its hash."""
        ...

    async def snapshot(self) -> bytes:
        """A copy share's manifest (MessagePack)."""
        ...

    async def add_files(self, files: list[tuple[str, bytes, str]], tags: list[str]) -> list[str]:
        """Add files (name, bytes, media type) to the owner's chapter; the new source ids."""
        ...

    async def update(self, source: str, tags: list[str] | None, text: str | None) -> None:
        """Retag a source of the owner's chapter and/or correct its text."""
        ...

    async def remove(self, source: str) -> None:
        """Take a source out of the owner's chapter."""
        ...

    async def ask(self, question: str, thread: str | None, k: int) -> dict[str, Any]:
        """Ask the owner's chapter, answered by the owner's model; the answer's JSON."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        raise PeerUnavailable(
            f"the owner's server answered {response.status_code} without a RagStack error"
        ) from None
    if code == "invalid_share_token":
        raise InvalidShareToken()
    if code == "share_ended":
        raise ShareEnded(message)
    if code == "share_forbidden":
        raise ShareForbidden(message)
    if response.status_code in (400, 409, 422):
        raise Invalid(f"the owner's server refused: {message}")
    raise PeerUnavailable(f"the owner's server answered {response.status_code}: {message}")


class HttpPeer:
    """The owner's server at `base_url`, over its public HTTP API."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        allow_private: bool,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = check_url(base_url).rstrip("/")
        self._token = token
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=PEER_TIMEOUT_S,
            transport=transport
            or guarded_transport(
                allow_private,
                refusal="only public servers can be peers unless the operator allows private "
                "ones ([sharing] allow_private_peers)",
            ),
            follow_redirects=False,
        )

    async def _request(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, path, **options)
        except httpx.HTTPError as exc:
            raise PeerUnavailable(f"cannot reach {self.base_url}: {exc}") from None
        _raise_for(response)
        return response

    @property
    def _headers(self) -> dict[str, str]:
        return {SHARE_TOKEN_HEADER: self._token}

    async def connect(self) -> Connection:
        response = await self._request("POST", f"/v1/shares/{self._token}/connect")
        try:
            return msgspec.json.decode(response.content, type=Connection)
        except msgspec.ValidationError as exc:
            raise PeerUnavailable(f"the owner's server sent an unreadable share: {exc}") from None

    async def feed(self, after: int) -> FeedBatch:
        response = await self._request(
            "GET", "/v1/shares/feed", params={"after": after}, headers=self._headers
        )
        try:
            return _batch_decoder.decode(response.content)
        except msgspec.ValidationError as exc:
            raise PeerUnavailable(f"the owner's server sent an unreadable batch: {exc}") from None

    async def blob(self, hash: str) -> bytes:
        response = await self._request("GET", f"/v1/shares/blobs/{hash}", headers=self._headers)
        if blob_hash(response.content) != hash:
            raise PeerUnavailable(f"blob {hash[:12]}… from the owner's server does not match")
        return response.content

    async def snapshot(self) -> bytes:
        response = await self._request("GET", "/v1/shares/snapshot", headers=self._headers)
        return response.content

    async def add_files(self, files: list[tuple[str, bytes, str]], tags: list[str]) -> list[str]:
        parts = [("file", (name, data, kind)) for name, data, kind in files]
        response = await self._request(
            "POST", "/v1/shares/sources", files=parts, data={"tags": tags}, headers=self._headers
        )
        return [s["id"] for s in response.json()["sources"]]

    async def update(self, source: str, tags: list[str] | None, text: str | None) -> None:
        body = {k: v for k, v in (("tags", tags), ("text", text)) if v is not None}
        await self._request(
            "PATCH", f"/v1/shares/sources/{source}", json=body, headers=self._headers
        )

    async def remove(self, source: str) -> None:
        await self._request("DELETE", f"/v1/shares/sources/{source}", headers=self._headers)

    async def ask(self, question: str, thread: str | None, k: int) -> dict[str, Any]:
        body = {"question": question, "thread": thread, "k": k}
        response = await self._request("POST", "/v1/shares/ask", json=body, headers=self._headers)
        return dict(response.json())

    async def aclose(self) -> None:
        await self._client.aclose()


def open_peer(services: Services, token: str, from_url: str | None) -> Peer:
    """The owner's server for `token`: `from_url`, or this server when it is None."""
    if from_url is None:
        from app.local_peer import LocalPeer  # the relay and copies it needs are heavier

        return LocalPeer(services, token)
    return HttpPeer(from_url, token, allow_private=services.settings.sharing.allow_private_peers)
