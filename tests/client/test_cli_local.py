"""`ragstack history|verify|replay` against a local data directory written by the engine itself
(no gateway, no account): the auditor's view of the logs on disk."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from client.cli import app
from engine.log import Logs
from engine.nats import HASH_HEADER, chapter_subject, connect_engine
from events import (
    ChapterCreated,
    ChapterRenamed,
    Envelope,
    SourceAdded,
    SourceRejected,
    encode,
    new_id,
)

BLOB = "ab" * 32


def run(data_args: list[str], *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, [*args, *data_args], env=env)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, str, str]:
    """A data directory with one chapter of four events, written through the engine."""
    data = tmp_path_factory.mktemp("local") / "data"
    chapter, source = new_id(), new_id()

    async def write() -> None:
        async with connect_engine(data) as nc, Logs(nc) as logs:
            log = logs.chapter(chapter)
            await log.create()
            await log.append(ChapterCreated(book=new_id(), title="Probes"), actor="u_alice")
            await log.append(
                SourceAdded(
                    source=source, name="voyager.txt", media_type="text/plain", blob=BLOB, size=0
                ),
                actor="u_alice",
            )
            await log.append(
                SourceRejected(source=source, code="empty", message="the file is empty"),
                actor="proc:ingest",
            )
            await log.append(ChapterRenamed(title="Space probes"), actor="u_alice")

    asyncio.run(write())
    return data, chapter, source


def test_history_lists_rev_time_actor_type_and_summary(written, tmp_path):
    data, chapter, _ = written
    result = run(["--data", str(data)], "history", chapter, "--json")
    assert result.exit_code == 0, result.stderr

    events = json.loads(result.stdout)["history"]
    assert [(e["rev"], e["actor"], e["type"]) for e in events] == [
        (1, "u_alice", "ChapterCreated"),
        (2, "u_alice", "SourceAdded"),
        (3, "proc:ingest", "SourceRejected"),
        (4, "u_alice", "ChapterRenamed"),
    ]
    assert events[1]["summary"] == "added voyager.txt"
    # The rejection names the source by name, though only its id is in that event.
    assert events[2]["summary"] == "rejected voyager.txt: the file is empty"
    assert all(e["at_ms"] > 0 and e["at"].endswith("Z") and e["id"] for e in events)


def test_history_pages_with_after_and_limit(written):
    data, chapter, _ = written
    result = run(
        ["--data", str(data)], "history", chapter, "--after", "1", "--limit", "2", "--json"
    )
    assert result.exit_code == 0, result.stderr
    events = json.loads(result.stdout)["history"]
    assert [e["rev"] for e in events] == [2, 3]
    assert events[1]["summary"] == "rejected voyager.txt: the file is empty"


def test_history_for_people_is_a_table(written):
    data, chapter, _ = written
    result = run(["--data", str(data)], "history", chapter, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    assert "SourceRejected" in result.stdout and "proc:ingest" in result.stdout


def test_without_a_login_the_data_directory_comes_from_the_environment(written, tmp_path):
    data, chapter, _ = written
    env = {"XDG_CONFIG_HOME": str(tmp_path / "nobody"), "RAGSTACK_DATA": str(data)}
    result = CliRunner().invoke(app, ["verify", chapter, "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True


def test_replay_shows_the_chapter_at_a_revision_and_a_time(written):
    data, chapter, source = written
    at_two = run(["--data", str(data)], "replay", chapter, "--rev", "2", "--json")
    assert at_two.exit_code == 0, at_two.stderr
    state = json.loads(at_two.stdout)
    assert (state["rev"], state["title"]) == (2, "Probes")
    assert [(s["id"], s["status"]) for s in state["sources"]] == [(source, "pending")]
    assert len(state["hash"]) == 64

    history = json.loads(run(["--data", str(data)], "history", chapter, "--json").stdout)
    last_at = history["history"][-1]["at_ms"]
    now = run(["--data", str(data)], "replay", chapter, "--at", str(last_at), "--json")
    state = json.loads(now.stdout)
    assert (state["rev"], state["title"]) == (4, "Space probes")
    assert state["sources"][0]["status"] == "rejected"
    assert state["sources"][0]["reason"] == "the file is empty"

    people = run(["--data", str(data)], "replay", chapter, "--rev", "4", env={"COLUMNS": "200"})
    assert people.exit_code == 0 and "Space probes" in people.stdout and "rejected" in people.stdout


def test_replay_needs_exactly_one_of_rev_and_at(written):
    data, chapter, _ = written
    neither = run(["--data", str(data)], "replay", chapter)
    assert neither.exit_code == 1 and "exactly one of --rev" in neither.stderr
    bad_time = run(["--data", str(data)], "replay", chapter, "--at", "last tuesday")
    assert bad_time.exit_code == 1 and "ISO 8601" in bad_time.stderr
    too_far = run(["--data", str(data)], "replay", chapter, "--rev", "99", "--json")
    assert too_far.exit_code == 1
    assert "4 events" in json.loads(too_far.stderr)["error"]["message"]


def test_unknown_chapter_and_missing_data_are_clear_errors(written, tmp_path):
    data, _, _ = written
    unknown = run(["--data", str(data)], "history", new_id())
    assert unknown.exit_code == 1 and "no log exists" in unknown.stderr
    missing = run(["--data", str(tmp_path / "nothing")], "verify", new_id(), "--json")
    assert missing.exit_code == 1
    assert json.loads(missing.stderr)["error"]["code"] == "no_data"
    assert not (tmp_path / "nothing").exists(), "nothing was created where there was no data"


def test_verify_passes_then_names_a_foreign_message_spliced_into_the_stream(tmp_path):
    data = tmp_path / "data"
    chapter = new_id()

    async def write(tamper: bool) -> None:
        async with connect_engine(data) as nc, Logs(nc) as logs:
            log = logs.chapter(chapter)
            if not tamper:
                await log.create()
                for title in ("one", "two", "three"):
                    await log.append(ChapterRenamed(title=title), actor="u_alice")
                return
            # Someone with write access to NATS appends rev 4 behind the engine's back: a valid
            # envelope, but a hash that does not continue the chain.
            forged = Envelope(
                id=new_id(), chapter=chapter, rev=4, at=1, actor="u_mallory",
                body=ChapterRenamed(title="forged"),
            )  # fmt: skip
            await nc.jetstream().publish(
                chapter_subject(chapter), encode(forged), headers={HASH_HEADER: "00" * 32}
            )

    asyncio.run(write(tamper=False))
    clean = run(["--data", str(data)], "verify", chapter, "--json")
    assert clean.exit_code == 0, clean.stderr
    report = json.loads(clean.stdout)
    assert (report["ok"], report["events"], report["head"]["rev"]) == (True, 3, 3)

    asyncio.run(write(tamper=True))
    broken = run(["--data", str(data)], "verify", chapter, "--json")
    assert broken.exit_code == 1
    report = json.loads(broken.stdout)
    assert (report["ok"], report["first_bad_rev"], report["head"]["rev"]) == (False, 4, 3)
    assert "does not match" in report["reason"]

    people = run(["--data", str(data)], "verify", chapter)
    assert people.exit_code == 1 and "rev 4 does not verify" in people.stdout
