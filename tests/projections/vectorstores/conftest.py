"""Fixtures for the vector index backends: a real Chroma server, the fake Pinecone data plane, and
`index`, which runs each contract test against every backend."""

import contextlib
import itertools
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from projections.vectorstores import VectorIndex
from projections.vectorstores.chroma import ChromaIndex
from projections.vectorstores.pinecone import PineconeIndex
from tests.fakes.pinecone_server import FakePinecone

DIM = 8
"""The dimension every contract test uses (the fake Pinecone index is created with it)."""

BACKENDS = ["chroma-embedded", "chroma-http", "pinecone"]


def vec(*values: float) -> list[float]:
    """A DIM-long vector starting with `values`."""
    return [*values, *([0.0] * (DIM - len(values)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Chroma server (`chroma run`, shipped in the chromadb wheel) on a free loopback port."""
    chroma = Path(sys.executable).with_name("chroma")
    assert chroma.exists(), f"the chroma CLI is missing next to {sys.executable}"
    data = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = (data / "server.log").open("wb")
    process = subprocess.Popen(
        [
            str(chroma),
            "run",
            "--path",
            str(data / "db"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (data / "server.log").read_text(errors="replace")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as answer,
            ):
                if answer.status == 200:
                    break
            assert time.monotonic() < deadline, "chroma server did not start within 30 s"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def fake_pinecone() -> Iterator[FakePinecone]:
    with FakePinecone(dimension=DIM) as server:
        yield server


_unique = itertools.count()


@pytest.fixture
def ns(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Namespace names unique to this test, so tests sharing the Chroma server never collide."""
    run = f"t{next(_unique)}-{int(time.time() * 1000) % 10**8}"
    return lambda name: f"{name}-{run}"


@pytest.fixture(params=BACKENDS)
async def index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorIndex]:
    backend: VectorIndex
    if request.param == "chroma-embedded":
        backend = ChromaIndex.embedded(tmp_path / "chroma")
    elif request.param == "chroma-http":
        backend = ChromaIndex.http(request.getfixturevalue("chroma_server"))
    else:
        server: FakePinecone = request.getfixturevalue("fake_pinecone")
        backend = PineconeIndex(server.host, server.api_key)
    yield backend
    await backend.close()
