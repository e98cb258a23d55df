"""The whole system on a three-node cluster at R3 (as `ragstack serve` with
`RAGSTACK_NATS_URL=nats://a,nats://b,nats://c`): the gateway and the projections ride through
a leader's kill -9 and a restart of every node; each upload is acknowledged once and folded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.services import Services, open_services
from app.settings import Settings
from client.sdk import AsyncClient
from engine.nats import chapter_stream
from engine.server_cluster import LocalCluster
from engine.settings import NatsSettings
from gateway.app import create_app
from tests.accounts_support import fast_passwords


@pytest.fixture
async def services(
    tmp_path: Path, cluster: LocalCluster, local_embedder
) -> AsyncIterator[Services]:
    passwords = fast_passwords()
    nats = NatsSettings(url=cluster.url, user=cluster.user, password=cluster.password, replicas=3)
    opened = await open_services(
        Settings(data_dir=tmp_path / "data", nats=nats),
        passwords=passwords,
        embedder=local_embedder,
        use_llm_settings=False,
    )
    try:
        yield opened
    finally:
        await opened.close()
        passwords.close()


async def test_uploads_ride_through_a_leader_kill_and_a_cluster_restart(
    services: Services, cluster: LocalCluster
):
    transport = httpx.ASGITransport(create_app(services))
    async with AsyncClient("http://ragstack.test", transport=transport, retry_for=60) as rs:
        await rs.signup("alice@example.com", "correct horse battery", "Alice")
        book = await rs.create_book("Cluster")
        chapter = (await rs.create_chapter(book.id, "Notes")).id
        info = await services.logs.nc.jetstream().stream_info(chapter_stream(chapter))
        assert info.config.num_replicas == 3 and info.cluster is not None

        first = await rs.upload(chapter, b"Before any fault.", name="a.txt", wait=True)

        leader = await cluster.leader_of(services.logs.nc, chapter_stream(chapter))
        cluster.kill(leader)
        started = time.monotonic()
        second = await rs.upload(chapter, b"While a leader is down.", name="b.txt")
        failover = time.monotonic() - started
        await cluster.start_node(leader)

        for i in range(len(cluster.nodes)):
            cluster.kill(i)
        await asyncio.sleep(0.5)
        await cluster.start()
        third = await rs.upload(chapter, b"After every node restarted.", name="c.txt")

        for source in (second, third):
            done = await rs.wait_for_source(chapter, source.id, within=120)
            assert done.status == "extracted"
        listed = await rs.sources(chapter)
    print(f"\nupload after the leader's kill -9 answered in {failover:.2f} s")
    assert sorted(s.id for s in listed) == sorted([first.id, second.id, third.id])
