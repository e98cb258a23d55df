"""Claims (engine/jetstream/claims.py) keep a connector's syncs apart across processes: one at a
time, whoever asks; free again when the holder ends, or `ttl` after it died."""

from __future__ import annotations

import asyncio

import pytest

from engine.connectors.sync import ConnectorBusy, ProcessSyncs
from engine.jetstream.claims import Claims
from events import new_id


async def test_one_process_at_a_time_and_free_when_it_ends(nc):
    worker = await Claims.open(nc, "worker-1", ttl=2.0)
    gateway = await Claims.open(nc, "gateway-1", ttl=2.0)
    key = f"connector.{new_id()}"
    held = await worker.acquire(key)
    assert held is not None and await gateway.acquire(key) is None
    assert await gateway.holder_of(key) == "worker-1"
    await asyncio.sleep(2.5)  # renewed past its ttl while held
    assert await gateway.acquire(key) is None
    await held.release()
    again = await gateway.acquire(key)
    assert again is not None
    await again.release()


async def test_a_dead_holders_claim_expires(nc):
    dead = await Claims.open(nc, "dead", ttl=1.0)
    key = f"connector.{new_id()}"
    held = await dead.acquire(key)
    assert held is not None
    held._renewing.cancel()  # the process died: nobody renews, nobody releases
    await asyncio.sleep(1.6)
    alive = await Claims.open(nc, "alive", ttl=1.0)
    taken = await alive.acquire(key)
    assert taken is not None
    await taken.release()


async def test_a_connector_syncs_in_one_process_and_the_other_is_told_who_runs_it(nc):
    worker = ProcessSyncs(await Claims.open(nc, "worker-7", ttl=5.0))
    gateway = ProcessSyncs(await Claims.open(nc, "gateway-3", ttl=5.0))
    connector = new_id()
    async with worker.exclusive(connector):
        with pytest.raises(ConnectorBusy, match="worker-7"):
            async with gateway.exclusive(connector):
                pass
        with pytest.raises(ConnectorBusy, match="running"):  # and within the same process
            async with worker.exclusive(connector):
                pass
    async with gateway.exclusive(connector):
        pass
