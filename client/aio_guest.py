"""`AsyncShareClient`: a guest's calls on the owner's server, with a share's token.

Every call carries the token in the `X-Share-Token` header (never in the URL: it must not land
in access logs) and no account. What a call may do is what the share was granted: reading its
sources and its feed always; adding (`add`), asking through the owner's model
(`prompt_passthrough`) only when granted; a revoked share is 403 `share_ended` at once.

    async with AsyncShareClient("https://owner.example", token) as guest:
        batch = await guest.feed(after=0)
        text = await guest.share_blob(batch.blobs[0])      # its BLAKE3 checked here
"""

from __future__ import annotations

import contextlib
import mimetypes
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import msgspec

import rust_core
from client.aio import DEFAULT_TIMEOUT, AsyncClient
from client.errors import ApiError
from client.models import Answer, Source
from client.models_shares import FeedBatch, ShareConnection
from client.wire import StreamItem, convert, items, question_body

__all__ = ["SHARE_TOKEN_HEADER", "AsyncShareClient", "BlobMismatch", "check_blob"]

SHARE_TOKEN_HEADER = "X-Share-Token"


class BlobMismatch(ApiError):
    """A blob whose bytes do not hash to its name: altered on the way, or by the server."""

    def __init__(self, name: str, actual: str) -> None:
        super().__init__(
            200,
            "blob_mismatch",
            f"blob {name} does not match its content (its BLAKE3 is {actual}): refused",
        )
        self.name = name
        self.actual = actual


def check_blob(name: str, data: bytes) -> bytes:
    """`data` if its BLAKE3 (hex) is `name`; else `BlobMismatch`."""
    actual = rust_core.hash(data).hex()
    if actual != name.lower():
        raise BlobMismatch(name, actual)
    return data


class AsyncShareClient:
    """A share's guest routes on the owner's server, async. Use as `async with`."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.share_token = token
        self.http = AsyncClient(
            url, timeout=timeout, transport=transport, headers={SHARE_TOKEN_HEADER: token}
        )

    @property
    def url(self) -> str:
        return self.http.url

    async def __aenter__(self) -> AsyncShareClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    async def connect(self) -> ShareConnection:
        """What the token opens: the chapter, the mode, the head now (and NATS credentials for
        a direct share)."""
        return await self.http.connect_share(self.share_token)

    async def shared_sources(self) -> list[Source]:
        """The shared chapter's sources."""
        data = await self.http.request("GET", "/v1/shares/sources")
        return convert(items(data, "sources"), list[Source])

    async def add_to_share(self, *paths: Path, tags: Sequence[str] | None = None) -> list[Source]:
        """Upload files into the shared chapter (permission `add`); they land in the owner's log
        as `share:<id>`."""
        if not paths:
            raise ValueError("add_to_share needs at least one path")
        with contextlib.ExitStack() as stack:
            files = []
            for path in paths:
                kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                handle = stack.enter_context(open(path, "rb"))  # noqa: ASYNC230 - as upload()
                files.append(("file", (path.name, handle, kind)))
            data = await self.http.request(
                "POST",
                "/v1/shares/sources",
                files=files,
                data={"tags": list(tags)} if tags else None,
                slow=True,
            )
        return convert(items(data, "sources"), list[Source])

    async def ask_share(
        self, question: str, *, thread: str | None = None, k: int | None = None
    ) -> Answer:
        """Ask the shared chapter, answered by the owner's model (permission
        `prompt_passthrough`); both turns land in the owner's log."""
        body = question_body(question, thread, k)
        data = await self.http.request("POST", "/v1/shares/ask", json_body=body, slow=True)
        return convert(data, Answer)

    async def ask_share_stream(
        self, question: str, *, thread: str | None = None, k: int | None = None
    ) -> AsyncIterator[StreamItem]:
        """`ask_share` as it is written: text pieces, then the whole `Answer`."""
        body = question_body(question, thread, k)
        async for item in self.http._stream_answer("/v1/shares/ask", body):
            yield item

    async def feed(self, after: int = 0) -> FeedBatch:
        """A proxied share's next batch: what changed after the owner's rev `after` through the
        last tick's watermark, compacted (a snapshot when `after` is 0)."""
        raw = await self.http.fetch_bytes("/v1/shares/feed", params={"after": after})
        try:
            return msgspec.json.decode(raw, type=FeedBatch)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise ApiError(
                200, "unexpected_answer", f"the feed's answer does not parse: {exc}"
            ) from None

    async def share_blob(self, blob: str, *, verify: bool = True) -> bytes:
        """A blob the share's events refer to, by its BLAKE3 hex; with `verify` (the default)
        its bytes must hash to that name (`BlobMismatch` otherwise)."""
        data = await self.http.fetch_bytes(f"/v1/shares/blobs/{blob}")
        return check_blob(blob, data) if verify else data
