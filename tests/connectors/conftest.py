"""Fixtures of the connector tests: a chapter log on the shared nats-server that seals personal
fields into a real blob store, as the server's logs do."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.blobs import LocalBlobStore
from engine.log import Log
from events import new_id


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
async def log(shared_nc, blobs: LocalBlobStore) -> Log:
    chapter_log = Log(shared_nc, new_id(), blobs=blobs)
    await chapter_log.create()
    return chapter_log
