"""The SDK's wire details: answer decoding, upload progress, the streamed answer's events."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from typing import IO, Any, TypeVar

import msgspec

from client.errors import ApiError
from client.models import Answer

__all__ = [
    "Progress",
    "ProgressReader",
    "StreamItem",
    "convert",
    "items",
    "question_body",
    "stream_item",
]

T = TypeVar("T")

Progress = Callable[[int, int], None]
"""Called as bytes of an upload leave: (bytes sent so far, total bytes of the file)."""

StreamItem = str | Answer
"""What `ask_stream` yields: text pieces as they arrive, then the whole `Answer` once."""


def items(data: Any, *keys: str) -> Any:
    """A list the server answers either bare or wrapped as `{key: [...]}`."""
    if isinstance(data, dict):
        for key in keys:
            if key in data:
                return data[key]
    return data


def convert(data: Any, kind: type[T]) -> T:
    try:
        return msgspec.convert(data, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise ApiError(
            200, "unexpected_answer", f"the server's answer does not parse: {exc}"
        ) from None


class ProgressReader(io.RawIOBase):
    """A file that reports how far it has been read (httpx reads uploads in chunks)."""

    def __init__(self, inner: IO[bytes], total: int, progress: Progress | None) -> None:
        self.inner = inner
        self.total = total
        self.progress = progress
        self.sent = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self.inner.read(size)
        self.sent += len(chunk)
        if self.progress is not None and chunk:
            self.progress(self.sent, self.total)
        return chunk

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        # httpx rewinds before sending (and again on a retry): progress starts over with it.
        position = self.inner.seek(offset, whence)
        self.sent = position
        return position

    def tell(self) -> int:
        return self.inner.tell()


def question_body(question: str, thread: str | None, k: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"question": question}
    if thread is not None:
        body["thread"] = thread
    if k is not None:
        body["k"] = k
    return body


def stream_item(event: str, data: str) -> StreamItem | None:
    """One event of a streamed answer (gateway/routes/chat.py): `token` {text}, then `answer`
    (the JSON answer's shape) or `error` {error: {code, message}}; others are skipped."""
    try:
        payload = json.loads(data) if data else None
    except ValueError:
        raise ApiError(200, "unexpected_answer", f"a {event!r} event is not JSON") from None
    if event == "error":
        error = payload.get("error") if isinstance(payload, dict) else None
        if not isinstance(error, dict):
            raise ApiError(502, "stream_error", "the answer failed while it was being written")
        # The status was 200 when the stream began; the failure is the provider's (a bad gateway).
        raise ApiError(502, str(error.get("code", "stream_error")), str(error.get("message", "")))
    if event == "answer" and isinstance(payload, dict):
        return convert(payload, Answer)
    if event == "token" and isinstance(payload, dict):
        return str(payload.get("text", "")) or None
    return None
