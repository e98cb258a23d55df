"""The embedded nats-server: its own config, durable JetStream, credentials, guests, clean exits."""

import asyncio
import signal
import stat
import subprocess
import sys
import textwrap

import nats.errors
import nats.js.errors
import psutil
import pytest

from engine.errors import LogUnavailable
from engine.guests import direct_share_permissions, direct_share_subjects, guest_inbox_prefix
from engine.jetstream.streams import direct_get
from engine.log import Log
from engine.nats import (
    chapter_live_subject,
    chapter_stream,
    chapter_subject,
    connect_engine,
    open_nats,
)
from engine.server import EmbeddedServer, ServerError, find_running
from events import ChapterRenamed, new_id


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_server_writes_its_config_and_keeps_its_secret_private(nats_server):
    config = nats_server.config_path.read_text()
    assert "sync_interval: always" in config
    assert f"store_dir: {str(nats_server.data_dir)!r}".replace("'", '"') in config
    assert '"user": "ragstack"' in config
    assert mode(nats_server.config_path) == 0o600
    assert mode(nats_server.data_dir / "engine.password") == 0o600
    assert nats_server.url.startswith("nats://127.0.0.1:")
    assert find_running(nats_server.data_dir) == nats_server.url


async def test_engine_user_connects_and_wrong_credentials_fail_fast(nats_server):
    nc = await open_nats(nats_server.url, nats_server.user, nats_server.password)
    assert nc.is_connected
    await nc.close()

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(LogUnavailable, match="refused the credentials"):
        await open_nats(nats_server.url, nats_server.user, "wrong", connect_timeout=10)
    assert loop.time() - started < 5
    with pytest.raises(LogUnavailable):
        await open_nats(nats_server.url, connect_timeout=3)  # no credentials at all


async def test_unreachable_server_is_a_clear_error(tmp_path):
    server = EmbeddedServer(tmp_path / "never-started")
    with pytest.raises(LogUnavailable, match="cannot reach NATS"):
        await open_nats("nats://127.0.0.1:9", "ragstack", server.password, connect_timeout=1)


async def test_restart_keeps_port_password_and_data(nats_server, nc):
    log = Log(nc, new_id())
    await log.create()
    await log.append(ChapterRenamed(title="kept"), actor="u1")
    url, password = nats_server.url, nats_server.password

    await nats_server.stop()
    assert not nats_server.running and find_running(nats_server.data_dir) is None
    await nats_server.start()

    assert (nats_server.url, nats_server.password) == (url, password)
    assert (await log.head()).rev == 1
    await log.close()


def test_stop_leaves_no_process(nats_store_dir):
    server = EmbeddedServer(nats_store_dir)
    asyncio.run(server.start())
    pid = server.pid
    assert psutil.pid_exists(pid)
    server.stop_sync()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_server_dies_with_a_killed_parent(tmp_path):
    # A parent killed with SIGKILL runs no cleanup; PR_SET_PDEATHSIG must take the server down.
    script = textwrap.dedent(
        f"""
        import asyncio, sys, time
        from pathlib import Path
        from engine.server import EmbeddedServer
        server = EmbeddedServer(Path({str(tmp_path / "nats")!r}))
        asyncio.run(server.start())
        print(server.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert psutil.pid_exists(child_pid)

    parent.send_signal(signal.SIGKILL)
    parent.wait()

    child = psutil.Process(child_pid) if psutil.pid_exists(child_pid) else None
    if child is not None:
        try:
            child.wait(timeout=5)
        except psutil.TimeoutExpired:
            child.kill()
            pytest.fail("the nats-server outlived its killed parent")


def test_a_bad_user_name_is_refused(nats_server):
    with pytest.raises(ValueError):
        asyncio.run(nats_server.add_user("bad name", "pw", {}))
    with pytest.raises(ValueError):
        asyncio.run(nats_server.add_user("ragstack", "pw", {}))
    with pytest.raises(ValueError):
        asyncio.run(nats_server.add_user("guest", 'p"w', {}))


async def _add_guest(server: EmbeddedServer, guest: str, password: str, chapter: str) -> str:
    inbox = guest_inbox_prefix(guest)
    services, streams = direct_share_subjects(chapter)
    await server.add_user(
        guest,
        password,
        direct_share_permissions(chapter, inbox_prefix=inbox),
        services=services,
        streams=streams,
    )
    return inbox


async def test_direct_share_guest_reads_one_stream_and_nothing_else(nats_server, nc):
    # The owner's chapter and another chapter the guest must not see.
    shared, private = Log(nc, new_id()), Log(nc, new_id())
    for log in (shared, private):
        await log.create()
        await log.append_many([ChapterRenamed(title=f"t{i}") for i in range(5)], actor="owner")

    guest = "guest-" + new_id()
    inbox = await _add_guest(nats_server, guest, "guest-password", shared.id)
    gc = await open_nats(nats_server.url, guest, "guest-password", inbox_prefix=inbox)

    # It follows the shared chapter: the live subject, and Direct Get for what was stored.
    received: list[bytes] = []
    got_live = asyncio.Event()

    async def on_msg(msg) -> None:
        received.append(msg.data)
        got_live.set()

    await gc.subscribe(chapter_live_subject(shared.id), cb=on_msg)
    await gc.flush()
    stored = [await direct_get(gc, chapter_stream(shared.id), seq=rev) for rev in range(1, 6)]
    await shared.append(ChapterRenamed(title="live"), actor="owner")
    await asyncio.wait_for(got_live.wait(), 10)
    assert [m.data for m in stored] + received == [e.payload async for e in shared.read()]

    # It cannot write to the shared chapter, nor read the other one, nor make a stream.
    with pytest.raises((nats.errors.TimeoutError, nats.errors.Error)):
        await gc.jetstream(timeout=1).publish(chapter_subject(shared.id), b"forged")
    assert (await shared.head()).rev == 6
    with pytest.raises((LogUnavailable, nats.js.errors.Error)):  # no responder, no JetStream
        await direct_get(gc, chapter_stream(private.id), seq=1, wait=1)
    with pytest.raises((nats.errors.TimeoutError, nats.errors.Error, nats.js.errors.Error)):
        await gc.jetstream(timeout=1).add_stream(
            name=chapter_stream("guestmade"), subjects=[chapter_subject("guestmade")]
        )

    # Revocation takes the credentials away at once: the live connection is closed...
    closed = asyncio.Event()
    assert await nats_server.remove_user(guest)
    for _ in range(100):
        if not gc.is_connected:
            closed.set()
            break
        await asyncio.sleep(0.05)
    assert closed.is_set(), "the revoked guest is still connected"
    # ...nothing more arrives, and the credentials no longer open a connection.
    await shared.append(ChapterRenamed(title="after revocation"), actor="owner")
    await asyncio.sleep(0.3)
    assert len(received) == 1
    with pytest.raises(LogUnavailable):
        await open_nats(nats_server.url, guest, "guest-password", connect_timeout=3)
    assert not await nats_server.remove_user(guest)

    await gc.close()
    for log in (shared, private):
        await log.close()


async def test_guest_cannot_overhear_the_engine_inbox(nats_server, nc):
    guest = "eavesdropper"
    inbox = await _add_guest(nats_server, guest, "pw", "x")
    gc = await open_nats(nats_server.url, guest, "pw", inbox_prefix=inbox)
    overheard: list[bytes] = []

    async def on_msg(msg) -> None:
        overheard.append(msg.data)

    await gc.subscribe("_INBOX.>", cb=on_msg)
    await gc.subscribe("rs.>", cb=on_msg)
    await gc.flush()
    log = Log(nc, new_id())
    await log.create()
    await log.append(ChapterRenamed(title="secret"), actor="owner")
    await asyncio.sleep(0.3)
    assert overheard == []
    await gc.close()
    await log.close()


async def test_connect_engine_uses_a_running_server_or_starts_one(tmp_path, nats_server):
    # No server on the data directory: one is started for the block and stopped after it.
    fresh = tmp_path / "fresh"
    async with connect_engine(fresh) as nc:
        assert nc.is_connected
        assert find_running(fresh / "nats") is not None
    assert find_running(fresh / "nats") is None

    # A server already running there (as under `ragstack serve`) is joined, not restarted.
    assert nats_server.data_dir.name == "nats"
    async with connect_engine(nats_server.data_dir.parent) as nc:
        assert nc.connected_url is not None
        assert f"nats://{nc.connected_url.hostname}:{nc.connected_url.port}" == nats_server.url
    assert nats_server.running

    # An external URL (RAGSTACK_NATS_URL) wins over the data directory.
    unused = tmp_path / "unused"
    async with connect_engine(
        unused, url=nats_server.url, user=nats_server.user, password=nats_server.password
    ) as nc:
        assert nc.is_connected
    assert not unused.exists()


async def test_a_second_server_on_the_same_store_is_refused(nats_server):
    # Two servers on one JetStream store would corrupt it.
    second = EmbeddedServer(nats_server.data_dir)
    with pytest.raises(ServerError, match="already runs"):
        await second.start()
    assert not second.running and nats_server.running
