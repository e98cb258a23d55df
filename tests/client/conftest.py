"""Fixtures for the client: the real app in-process (for the async SDK over httpx's ASGI
transport), and a real `ragstack serve` in a subprocess (for the CLI and the sync SDK).

Both run the whole system: a nats-server of their own on a free port, SQLite, Chroma, the local
embedder; answers are extractive (no LLM).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from app.services import Services, open_services
from app.settings import Settings
from client.sdk import AsyncClient
from gateway.app import create_app
from tests.accounts_support import fast_passwords
from tests.serve_support import ServeProcess, serving


@pytest.fixture
async def services(tmp_path: Path, local_embedder) -> AsyncIterator[Services]:
    passwords = fast_passwords()
    opened = await open_services(
        Settings(data_dir=tmp_path / "data"),
        passwords=passwords,
        embedder=local_embedder,
        use_llm_settings=False,  # no LLM: extractive answers
    )
    try:
        yield opened
    finally:
        await opened.close()
        passwords.close()


@pytest.fixture
async def sdk(services: Services) -> AsyncIterator[AsyncClient]:
    """An SDK client for the app, not signed in."""
    transport = httpx.ASGITransport(create_app(services))
    async with AsyncClient("http://ragstack.test", transport=transport) as client:
        yield client


@pytest.fixture
async def alice(sdk: AsyncClient) -> AsyncClient:
    """`sdk`, signed up as alice."""
    await sdk.signup("alice@example.com", "correct horse battery", "Alice")
    return sdk


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """A real `ragstack serve` for the module's tests (stopped with SIGTERM after them)."""
    with serving(tmp_path_factory.mktemp("served")) as process:
        yield process
