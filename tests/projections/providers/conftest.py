"""Fixtures for the provider tests: each remote provider paired with its fake server."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.projections.providers.provider_cases import CHAT_KINDS, EMBED_KINDS, Case, start_fake


def _running(kind: str) -> Iterator[Case]:
    fake = start_fake(kind)
    try:
        yield Case(kind, fake)
    finally:
        fake.stop()


@pytest.fixture(params=CHAT_KINDS)
def chat_case(request: pytest.FixtureRequest) -> Iterator[Case]:
    yield from _running(request.param)


@pytest.fixture(params=EMBED_KINDS)
def embed_case(request: pytest.FixtureRequest) -> Iterator[Case]:
    yield from _running(request.param)


@pytest.fixture
def free_port_url() -> str:
    """A loopback URL where nothing listens (the port was bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
