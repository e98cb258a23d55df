"""`ragstack add`, `search`, `ask` and the book/chapter commands against a real `ragstack serve`
whose answers come from an LLM (a fake OpenAI server on loopback speaking its wire format) and
whose upload limit is small: a streamed answer, an LLM that dies mid-answer, a file over the
limit among good ones, and the commands people type."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from client.cli_common import CliError
from client.cli_sources import collect_files
from tests.fakes.openai import FakeOpenAI
from tests.serve_support import ServeProcess, serving

UPLOAD_LIMIT = 4096
ANSWER = "Voyager 2 found the Great Dark Spot, a storm the size of Earth [1]."
VOYAGER = "Voyager 2 flew past Neptune in 1989 and found the Great Dark Spot, an Earth-sized storm."


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(answer=ANSWER) as fake:
        yield fake


@pytest.fixture(scope="module")
def served(tmp_path_factory, llm: FakeOpenAI) -> Iterator[ServeProcess]:
    with serving(
        tmp_path_factory.mktemp("sources"),
        RAGSTACK_LLM_KIND="openai",
        RAGSTACK_LLM_MODEL="gpt-4o-mini",
        RAGSTACK_LLM_BASE_URL=llm.base_url,
        RAGSTACK_LLM_API_KEY=llm.api_key or "",
        RAGSTACK_LIMITS_UPLOAD_BYTES=str(UPLOAD_LIMIT),
    ) as process:
        process.invoke_json(
            "login", process.url, "--signup", "--email", "carol@example.com",
            "--password", "correct horse battery",
        )  # fmt: skip
        yield process


@pytest.fixture(scope="module")
def chapter(served: ServeProcess) -> str:
    book = served.invoke_json("book", "create", "Outer planets")
    return served.invoke_json("chapter", "create", book["id"], "Neptune")["id"]


def test_collect_files_walks_folders_skipping_hidden_ones(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("x")
    (tmp_path / "a" / ".hidden.txt").write_text("h")
    (tmp_path / "a" / ".git").mkdir()
    (tmp_path / "a" / ".git" / "config").write_text("c")
    (tmp_path / "a" / "b").mkdir()
    (tmp_path / "a" / "b" / "y.md").write_text("y")
    (tmp_path / "z.pdf").write_bytes(b"%PDF")

    found = collect_files([tmp_path / "z.pdf", tmp_path / "a"])

    assert found == [tmp_path / "z.pdf", tmp_path / "a" / "b" / "y.md", tmp_path / "a" / "x.txt"]
    with pytest.raises(CliError, match="does not exist"):
        collect_files([tmp_path / "missing"])


def test_a_file_over_the_limit_fails_alone(served: ServeProcess, chapter: str, tmp_path: Path):
    (tmp_path / "voyager.txt").write_text(VOYAGER)
    (tmp_path / "huge.txt").write_text("big " * UPLOAD_LIMIT)

    done = served.invoke("add", chapter, str(tmp_path), "--wait", "--json")

    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert [s["name"] for s in report["sources"]] == ["voyager.txt"]
    assert report["sources"][0]["status"] == "extracted"
    [error] = report["errors"]
    assert error["path"].endswith("huge.txt") and error["status"] == 413
    assert "limit" in error["message"]


def test_add_for_people_shows_progress_and_a_table(served: ServeProcess, chapter: str, tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text("# Triton\n\nTriton orbits Neptune backwards.\n")

    done = served.invoke("add", "Neptune", str(notes), "--tag", "moons", "--wait")

    assert done.returncode == 0, done.stderr
    assert "notes.md" in done.stdout and "extracted" in done.stdout and "moons" in done.stdout
    assert "uploaded" in done.stderr  # the progress bar, on stderr


def test_search_for_people_numbers_the_passages(served: ServeProcess, chapter: str):
    done = served.invoke("search", chapter, "which moon orbits backwards?", "-k", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1. ")
    assert "notes.md" in done.stdout and "Triton" in done.stdout


def test_ask_streams_the_llms_answer_then_cites(served: ServeProcess, chapter: str, llm):
    done = served.invoke("ask", chapter, "What storm did Voyager 2 find?")

    assert done.returncode == 0, done.stderr
    assert ANSWER in done.stdout
    assert "[1] voyager.txt" in done.stdout
    assert "openai:gpt-4o-mini" in done.stdout
    asked = llm.requests_to("/chat/completions")[-1]
    assert asked.body["stream"] is True
    assert "What storm did Voyager 2 find?" in json.dumps(asked.body["messages"])


def test_an_llm_dying_mid_answer_is_a_clear_error(served: ServeProcess, chapter: str, llm):
    llm.die_after_chunks = 3
    try:
        streamed = served.invoke("ask", chapter, "What storm did Voyager 2 find?")
        whole = served.invoke("ask", chapter, "What storm did Voyager 2 find?", "--json")
    finally:
        llm.die_after_chunks = None

    assert streamed.returncode == 1
    assert streamed.stderr.startswith("error:") and "Traceback" not in streamed.stderr
    assert whole.returncode == 1
    error = json.loads(whole.stderr)["error"]
    assert error["status"] >= 500 and error["message"]


def test_book_and_chapter_commands_for_people(served: ServeProcess, chapter: str):
    invited = served.invoke(
        "book", "invite", "Outer planets", "dave@example.com", "--role", "admin"
    )
    assert invited.returncode == 0 and "Invited dave@example.com as admin" in invited.stdout
    members = served.invoke("book", "members", "Outer planets")
    assert "dave@example.com" in members.stdout and "invited" in members.stdout
    books = served.invoke("book", "list")
    assert "Outer planets" in books.stdout and "owner" in books.stdout

    spare = served.invoke_json("chapter", "create", "Outer planets", "Uranus")
    renamed = served.invoke("chapter", "rename", spare["id"], "Uranus and moons")
    assert renamed.returncode == 0 and "Uranus and moons" in renamed.stdout

    unasked = served.invoke("chapter", "delete", spare["id"])
    assert unasked.returncode == 1 and "--yes" in unasked.stderr
    deleted = served.invoke("chapter", "delete", "Uranus and moons", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    remaining = served.invoke_json("chapter", "list", "Outer planets")["chapters"]
    assert [c["id"] for c in remaining] == [chapter]


def test_environment_credentials_work_without_login(served: ServeProcess, chapter: str):
    token = json.loads((served.config_home / "ragstack" / "credentials.json").read_text())["token"]
    elsewhere = served.invoke(
        "chapter", "list", "--json",
        XDG_CONFIG_HOME=str(served.config_home / "empty"),
        RAGSTACK_URL=served.url, RAGSTACK_TOKEN=token,
    )  # fmt: skip
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert chapter in {c["id"] for c in json.loads(elsewhere.stdout)["chapters"]}

    expired = served.invoke(
        "book", "list",
        XDG_CONFIG_HOME=str(served.config_home / "empty"),
        RAGSTACK_URL=served.url, RAGSTACK_TOKEN="rs_not_a_token",
    )  # fmt: skip
    assert expired.returncode == 1 and "ragstack login" in expired.stderr


def test_diff_between_two_revisions_for_people_and_for_scripts(served: ServeProcess, tmp_path):
    book = served.invoke_json("book", "create", "Diffs")
    chapter = served.invoke_json("chapter", "create", book["id"], "Ledger")["id"]
    note = tmp_path / "ledger.txt"
    note.write_text("The ledger balances.")
    served.invoke("add", chapter, str(note), "--wait")

    changes = served.invoke_json("diff", chapter, "1", "--json")
    assert changes["from_rev"] == 1 and changes["to_rev"] >= 3
    assert [s["name"] for s in changes["sources_added"]] == ["ledger.txt"]
    shown = served.invoke("diff", chapter, "0")
    assert shown.returncode == 0, shown.stderr
    assert "added" in shown.stdout and "ledger.txt" in shown.stdout
    backwards = served.invoke("diff", chapter, "3", "1")
    assert backwards.returncode != 0
    assert "after to 1" in backwards.stdout + backwards.stderr
