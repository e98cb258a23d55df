"""End to end through the CLI against a real `ragstack serve` started by the test: sign up, make a
book and a chapter, upload a folder, search, ask (the answer cites the uploaded passage), read
the history and verify the chain; wrong passwords and unknown chapters fail cleanly. The server
answers extractively (no LLM) and is stopped with SIGTERM, leaving no nats-server behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve_support import ServeProcess, serving

PASSWORD = "correct horse battery"
VOYAGER = (
    "Voyager 2 flew past Neptune in August 1989. Its cameras found the Great Dark Spot, "
    "a storm the size of Earth, and clouds racing at two thousand kilometres an hour.\n"
)
CASSINI = "Cassini orbited Saturn for thirteen years and dove between the rings in 2017.\n"
UNKNOWN_CHAPTER = "01jzzzzzzzzzzzzzzzzzzzzzzz"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    # Stopped with SIGTERM after the module; a clean exit and no nats-server left are asserted.
    with serving(tmp_path_factory.mktemp("e2e")) as process:
        yield process


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder to upload: two papers in a subfolder, and a hidden file that must be skipped."""
    root = tmp_path_factory.mktemp("library")
    (root / "probes").mkdir()
    (root / "probes" / "voyager.txt").write_text(VOYAGER)
    (root / "probes" / "cassini.md").write_text("# Cassini\n\n" + CASSINI)
    (root / ".secret.txt").write_text("not for upload")
    return root


def test_the_whole_journey_through_the_cli(served: ServeProcess, library: Path):
    # Sign up (which logs in and stores the token).
    signed = served.cli_json(
        "login", served.url, "--signup", "--email", "alice@example.com", "--password", PASSWORD
    )
    assert signed["user"]["email"] == "alice@example.com"
    assert served.cli_json("whoami")["user"]["email"] == "alice@example.com"

    # A wrong password fails cleanly and keeps the stored login.
    wrong = served.cli(
        "login", served.url, "--email", "alice@example.com", "--password", "nope nope nope"
    )
    assert wrong.returncode == 1
    assert "the e-mail or the password is wrong" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    assert served.cli_json("whoami")["user"]["email"] == "alice@example.com"

    # A book, a chapter.
    book = served.cli_json("book", "create", "Space")
    chapter = served.cli_json("chapter", "create", book["id"], "Probes")
    assert chapter["book"] == book["id"]
    listed = served.cli_json("chapter", "list", "Space")  # a book by name works too
    assert [c["id"] for c in listed["chapters"]] == [chapter["id"]]

    # Upload the folder (hidden files skipped) and wait for extraction.
    added = served.cli_json("add", chapter["id"], str(library), "--tag", "papers", "--wait")
    assert added["errors"] == []
    by_name = {s["name"]: s for s in added["sources"]}
    assert set(by_name) == {"voyager.txt", "cassini.md"}
    assert {s["status"] for s in by_name.values()} == {"extracted"}
    assert all(s["tags"] == ["papers"] for s in by_name.values())

    # Search finds the passage in its source.
    hits = served.cli_json("search", chapter["id"], "a storm on Neptune", "-k", "3")["hits"]
    assert hits[0]["source_name"] == "voyager.txt"
    assert "Great Dark Spot" in hits[0]["text"]
    assert set(hits[0]) >= {"source", "source_name", "span", "text", "score"}

    # Ask: the answer cites the uploaded passage.
    answer = served.cli_json("ask", chapter["id"], "What did Voyager 2 find at Neptune?")
    assert set(answer) >= {"id", "text", "citations", "rev", "model"}
    assert answer["model"] == "extractive"
    cited = answer["citations"][0]
    assert cited["source"] == by_name["voyager.txt"]["id"]
    assert cited["source_name"] == "voyager.txt"
    assert "Great Dark Spot" in cited["text"]

    # The same question for people: streamed text, then numbered citations.
    shown = served.cli("ask", "Probes", "What did Voyager 2 find at Neptune?")
    assert shown.returncode == 0, shown.stderr
    assert "Great Dark Spot" in shown.stdout
    assert "[1] voyager.txt" in shown.stdout

    # History over HTTP, and the same log read straight from the data directory.
    history = served.cli_json("history", chapter["id"])["history"]
    types = [h["type"] for h in history]
    assert types[0] == "ChapterCreated"
    assert {"SourceAdded", "SourceExtracted", "ThreadStarted", "MessagePosted"} <= set(types)
    assert [h["rev"] for h in history] == list(range(1, len(history) + 1))
    local = served.cli_json("history", chapter["id"], "--data", str(served.data))["history"]
    assert [(h["rev"], h["type"], h["summary"]) for h in local] == [
        (h["rev"], h["type"], h["summary"]) for h in history
    ]

    # Verify: recomputed on the client from the stored bytes, and locally from the data dir.
    verified = served.cli_json("verify", chapter["id"])
    assert verified["ok"] is True and verified["head"]["rev"] == len(history)
    local_verified = served.cli_json("verify", chapter["id"], "--data", str(served.data))
    assert local_verified["head"] == verified["head"]

    # Replay: the chapter as it was after its first event.
    first = served.cli_json("replay", chapter["id"], "--rev", "1")
    assert (first["rev"], first["title"], first["sources"]) == (1, "Probes", [])

    # Unknown chapters fail cleanly, over HTTP and locally.
    for args in (
        ("search", UNKNOWN_CHAPTER, "anything"),
        ("history", UNKNOWN_CHAPTER),
        ("verify", UNKNOWN_CHAPTER, "--data", str(served.data)),
        ("add", "No such chapter", str(library)),
    ):
        failed = served.cli(*args)
        assert failed.returncode == 1, args
        assert failed.stderr.startswith("error:"), (args, failed.stderr)
        assert "Traceback" not in failed.stderr
    as_json = served.cli("search", UNKNOWN_CHAPTER, "anything", "--json")
    assert json.loads(as_json.stderr)["error"]["status"] == 404

    # Log out: the token is revoked and forgotten.
    assert served.cli_json("logout") == {"logged_out": True, "revoked": True}
    after = served.cli("book", "list")
    assert after.returncode == 1 and "not logged in" in after.stderr
