"""Fixtures for the gateway: real services (a SQLite accounts store in tmp_path), the app, a client.

Passwords are real argon2id with small parameters and the accounts store's clock is settable,
so that token expiry can be tested without sleeping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.services import Services, open_services
from app.settings import Settings
from engine.accounts.passwords import Passwords
from engine.settings import Limits
from gateway.app import create_app
from tests.accounts_support import ManualClock, fast_passwords


@pytest.fixture
def passwords() -> Iterator[Passwords]:
    made = fast_passwords()
    yield made
    made.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def limits() -> Limits:
    """Override in a test module for small rate limits."""
    return Limits()


@pytest.fixture
def settings(tmp_path: Path, limits: Limits) -> Settings:
    return Settings(data_dir=tmp_path / "data", limits=limits)


@pytest.fixture
async def services(settings, passwords, clock, local_embedder) -> AsyncIterator[Services]:
    opened = await open_services(
        settings, passwords=passwords, clock=clock, embedder=local_embedder
    )
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def webapp_dir(tmp_path: Path) -> Path:
    """The web app's build the app serves: none, unless a test module overrides this."""
    return tmp_path / "no-webapp-build"


@pytest.fixture
def app(services: Services, webapp_dir: Path) -> FastAPI:
    return create_app(services, webapp_dir=webapp_dir)


@pytest.fixture
def make_client(app: FastAPI) -> Callable[..., httpx.AsyncClient]:
    """Clients for the app; `address` sets the client address the server sees."""

    def make(app_: FastAPI | None = None, *, address: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app_ or app, client=(address, 50000))
        return httpx.AsyncClient(transport=transport, base_url="http://ragstack.test")

    return make


@pytest.fixture
async def client(make_client) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as c:
        yield c
