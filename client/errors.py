"""The SDK's one error family: what the server said went wrong, or that it could not be reached."""

from __future__ import annotations

import json

import httpx

__all__ = ["ApiError", "ServerUnreachable", "error_from"]


class ApiError(Exception):
    """An error answer from the server: HTTP status, stable code, a sentence for a person."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})" if status else message)
        self.status = status
        self.code = code
        self.message = message


class ServerUnreachable(ApiError):
    """No answer at all: the server is down, the URL is wrong, or the network is away."""

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(0, "unreachable", f"cannot reach the RagStack server at {url}: {detail}")


def error_from(response: httpx.Response, body: bytes) -> ApiError:
    """The `ApiError` for an error answer: its JSON `{"error": {"code", "message"}}`, or what
    can be said about an answer that is not in that shape (a proxy's HTML page)."""
    try:
        error = json.loads(body)["error"]
        return ApiError(response.status_code, str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        text = body.decode(errors="replace").strip()[:200]
        phrase = response.reason_phrase or f"HTTP {response.status_code}"
        return ApiError(
            response.status_code,
            phrase.lower().replace(" ", "_").replace("-", "_"),
            text or phrase,
        )
