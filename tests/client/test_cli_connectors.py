"""`ragstack sync` and `ragstack connector` against a real `ragstack serve`: a Zotero directory
and an Obsidian vault on this machine pushed through the API, and a Zotero Web API library (a
local server speaking its protocol) synced by the server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.connectors.zotero_support import ZoteroDir, pdf_bytes
from tests.fakes.zotero_server import FakeZotero
from tests.serve_support import ServeProcess, serving


@pytest.fixture(scope="module")
def zotero() -> Iterator[FakeZotero]:
    with FakeZotero() as fake:
        fake.put("PAPERAAA", itemType="journalArticle", title="Harbour Beacons", date="2003",
                 creators=[{"creatorType": "author", "firstName": "Di", "lastName": "Evans"}])  # fmt: skip
        fake.attach("FILEAAAA", "PAPERAAA", "evans.pdf", pdf_bytes("harbour beacons glow"))
        yield fake


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[ServeProcess]:
    # The operator lets this server reach loopback, where the test's Zotero listens.
    with serving(
        tmp_path_factory.mktemp("connectors"),
        RAGSTACK_WEB_ALLOW_PRIVATE_ADDRESSES="true",
        RAGSTACK_CONNECTORS_SYNC_INTERVAL_S="0",
    ) as process:
        process.invoke_json(
            "login", process.url, "--signup", "--email", "dora@example.com",
            "--password", "correct horse battery",
        )  # fmt: skip
        yield process


def new_chapter(served: ServeProcess, title: str) -> str:
    book = served.invoke_json("book", "create", f"Library {title}")
    return served.invoke_json("chapter", "create", book["id"], title)["id"]


def test_sync_a_zotero_directory_from_this_machine(served: ServeProcess, tmp_path: Path):
    chapter = new_chapter(served, "Thesis")
    zdir = ZoteroDir(tmp_path / "Zotero")
    thesis = zdir.collection("Thesis")
    paper = zdir.add_paper(title="Granite Quarries", authors=[("Cy", "Brown")], date="2011",
                           collections=[thesis])  # fmt: skip
    zdir.attach(paper, "brown.pdf", pdf_bytes("granite quarries and cobalt"))
    zdir.note(paper, "<p>cobalt matters</p>")
    other = zdir.add_paper(title="Tundra", authors=[("Ed", "White")], date="2015")
    zdir.attach(other, "white.pdf", pdf_bytes("tundra and glacier"))

    first = served.invoke_json("sync", chapter, "--zotero-dir", str(zdir.root))
    [result] = first["connectors"]
    assert result["report"]["added"] == 3 and result["connector"]["pushed"] is True
    connector = result["connector"]["id"]
    listed = served.invoke_json("connector", "show", chapter, connector)
    assert listed["status"] == "ok" and listed["cursor"]

    again = served.invoke_json("sync", chapter, "--zotero-dir", str(zdir.root))
    assert again["connectors"][0]["report"]["appended"] == 0

    zdir.tag(paper, "minerals")
    zdir.trash(other)
    edits = served.invoke_json("sync", chapter, "--zotero-dir", str(zdir.root))
    report = edits["connectors"][0]["report"]
    assert (report["retagged"], report["removed"], report["appended"]) == (2, 1, 3)

    people = served.invoke("sync", chapter, "--zotero-dir", str(zdir.root))
    assert people.returncode == 0, people.stderr
    assert "nothing changed" in people.stdout and "syncing items" in people.stderr
    zdir.close()


def test_a_zotero_web_library_is_configured_and_synced_by_the_server(
    served: ServeProcess, zotero: FakeZotero
):
    chapter = new_chapter(served, "Web")
    added = served.invoke_json(
        "connector", "add", chapter, "--zotero-library", zotero.library,
        "--base-url", zotero.base_url, ZOTERO_API_KEY=zotero.api_key,
    )  # fmt: skip
    assert added["has_credential"] is True and zotero.api_key not in str(added)
    synced = served.invoke_json("sync", chapter)
    assert synced["connectors"][0]["report"]["added"] == 1
    listed = served.invoke_json("connector", "list", chapter)
    assert [c["status"] for c in listed["connectors"]] == ["ok"]
    hits = served.invoke_json("search", chapter, "harbour beacons")["hits"]
    assert hits and hits[0]["cite"] == "Evans (2003)"

    zotero.api_key = "rotated-key-the-old-one-is-revoked"
    failed = served.invoke("sync", chapter, "--json")
    assert failed.returncode == 1 and "connector_credential_rejected" in failed.stderr
    shown = served.invoke_json("connector", "show", chapter, added["id"])
    assert shown["status"] == "credential_rejected"
    assert os.environ.get("ZOTERO_API_KEY") is None
    assert "zot-key-secret" not in served.log.read_text(errors="replace")

    removed = served.invoke_json("connector", "remove", chapter, added["id"], "--remove-sources")
    assert removed == {"removed": added["id"]}


def test_sync_an_obsidian_vault_from_this_machine(served: ServeProcess, tmp_path: Path):
    chapter = new_chapter(served, "Notes")
    vault = tmp_path / "Vault"
    (vault / "Ideas").mkdir(parents=True)
    (vault / "Ideas" / "Quarry.md").write_text("---\ntags: [granite]\n---\nA quarry. #cobalt")
    (vault / "Inbox.md").write_text("Link to [[Quarry]].")
    first = served.invoke_json("sync", chapter, "--obsidian-vault", str(vault))
    [result] = first["connectors"]
    assert result["report"]["added"] == 2 and result["connector"]["kind"] == "obsidian"
    assert result["connector"]["pushed"] is True

    (vault / "Inbox.md").unlink()
    again = served.invoke_json("sync", chapter, "--obsidian-vault", str(vault))
    report = again["connectors"][0]["report"]
    assert (report["removed"], report["appended"]) == (1, 1)
    assert again["connectors"][0]["connector"]["id"] == result["connector"]["id"]

    both = served.invoke("sync", chapter, "--obsidian-vault", str(vault), "--zotero-dir", ".")
    assert both.returncode != 0 and "not both" in both.stderr
