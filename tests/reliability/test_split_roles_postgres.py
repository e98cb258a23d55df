"""A gateway and a worker as on two machines (issue 12): each with a data directory of its own,
sharing only NATS, the read models in PostgreSQL, a Chroma server and blobs in S3 (moto's
server): an upload through the gateway is folded by the worker process and found by a search
through the gateway, and neither data directory holds a read model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from app.services import open_services
from client.sdk import AsyncClient
from gateway.app import create_app
from tests.accounts_support import fast_passwords
from tests.projections.pipeline_support import in_schema
from tests.reliability.test_worker_leases import Worker
from tests.reliability.worker_child import worker_settings
from tests.requirements import PostgresSchema

REGION = "us-east-1"
NOTE = (
    b"Maintenance log. The Brumblethorpe valve on pump 7 failed with fault code E-4021 and was "
    b"replaced by technician Okonkwo; pressure held at 3.5 bar afterwards."
)
OTHER = (
    b"Maintenance log. The conveyor belt on line 2 stopped with fault code E-5113 and was "
    b"realigned by technician Vasquez; it ran at full speed afterwards."
)


@pytest.fixture
def s3_blobs(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An S3 bucket on moto's server, as an s3:// blob store URL; the credentials in the
    environment, where the worker child finds them too."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint, region_name=REGION).create_bucket(Bucket="shared")
        yield f"s3://shared?endpoint={endpoint}&region={REGION}"
    finally:
        server.stop()


async def test_an_upload_through_a_gateway_is_folded_by_a_worker_on_another_machine(
    nats_server, tmp_path: Path, chroma_server: str, pg_schema: PostgresSchema, s3_blobs: str,
    local_embedder,
):  # fmt: skip
    views = in_schema(pg_schema)
    worker_data, gateway_data = tmp_path / "worker" / "data", tmp_path / "gateway" / "data"
    worker_data.parent.mkdir()
    worker = Worker("w1", nats_server, worker_data, s3_blobs, chroma_server, views=views)
    await worker.start()
    settings = worker_settings(
        gateway_data, nats_server.url, nats_server.user, nats_server.password, chroma_server,
        views=views, blobs=s3_blobs,
    )  # fmt: skip
    passwords = fast_passwords()
    gateway = await open_services(
        settings, role="gateway", passwords=passwords, embedder=local_embedder
    )
    try:
        assert gateway.read.views.dialect == "postgresql"
        transport = httpx.ASGITransport(create_app(gateway))
        async with AsyncClient("http://ragstack.test", transport=transport) as rs:
            await rs.signup("ada@example.com", "correct horse battery", "Ada")
            book = await rs.create_book("Plant")
            chapter = (await rs.create_chapter(book.id, "Pumps")).id
            pump, belt = [
                await rs.upload(chapter, text, name=name, wait=True, wait_timeout=60)
                for name, text in (("pump.txt", NOTE), ("belt.txt", OTHER))
            ]
            assert (pump.status, belt.status) == ("extracted", "extracted")
            lookups = {"Brumblethorpe valve": pump, "E-4021": pump, "Who is Okonkwo?": pump,
                       "E-5113": belt, "What did Vasquez do?": belt}  # fmt: skip
            for query, source in lookups.items():
                hits = await rs.search(chapter, query, k=3)
                assert hits and hits[0].source == source.id, query
        assert gateway.read.runner.folding() == set()  # the worker folded it, not the gateway
    finally:
        await gateway.close()
        passwords.close()
        await worker.kill()
    # Neither machine keeps read models, an embedding cache or blobs on its disk.
    for data in (worker_data, gateway_data):
        kept = {p.name for p in data.iterdir()} if data.exists() else set()
        assert not kept & {"views.sqlite3", "embeddings.sqlite3", "blobs", "chroma"}, (data, kept)
