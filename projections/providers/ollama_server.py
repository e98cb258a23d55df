"""Where the Ollama server is, and whether it answers: plain HTTP, without the `ollama` SDK (an
extra), because the default answerer asks before choosing Ollama at all."""

from __future__ import annotations

import os

import httpx

OLLAMA_URL = "http://127.0.0.1:11434"


def ollama_url(base_url: str | None = None) -> str:
    """The server's URL: `base_url`, else $OLLAMA_HOST, else the local default; a bare
    "host:port" gets http:// (as the ollama CLI accepts it)."""
    url = (base_url or os.environ.get("OLLAMA_HOST") or OLLAMA_URL).strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    return url


async def ollama_reachable(base_url: str | None = None, timeout: float = 0.5) -> bool:  # noqa: ASYNC109 - one bound for connect and answer, handed to httpx
    """Whether an Ollama server answers at `base_url` within `timeout` seconds."""
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(ollama_url(base_url) + "/api/version")
            return response.status_code == 200 and "version" in response.json()
    except (httpx.HTTPError, OSError, ValueError):
        return False
