"""Connectors over HTTP: a Zotero library (a local server speaking the Web API) configured for a
chapter, synced, searched by its tags and collections, cited as Author (Year), and its status."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from gateway_support import assert_error, bearer, sign_up
from sources_support import new_chapter, search, until_settled

from app.settings import load_settings
from client import local_library
from client.aio import AsyncClient
from client.local_library import sync_obsidian_vault, sync_zotero_dir
from engine.settings import Limits
from tests.connectors.zotero_support import ZoteroDir, pdf_bytes
from tests.fakes.confluence_server import FakeConfluence
from tests.fakes.notion_server import FakeNotion
from tests.fakes.zotero_server import FakeZotero


@pytest.fixture
def settings(tmp_path: Path, limits: Limits):
    # The operator's setting lets the server reach the test's loopback Zotero, as it would a
    # self-hosted service on the LAN; users' base URLs never lift the rule (test below).
    return load_settings(
        environ={},
        data_dir=str(tmp_path / "data"),
        llm={"kind": "extractive"},
        web={"allow_private_addresses": True},
        connectors={"sync_interval_s": 0, "local_root": str(tmp_path / "shared")},
    )


@pytest.fixture
def zotero():
    with FakeZotero() as fake:
        fake.collection("COLLTHES", "Thesis")
        fake.collection("COLLCH02", "Ch2", parent="COLLTHES")
        fake.put("PAPERAAA", itemType="journalArticle", title="Rivers of Copper", date="2020",
                 creators=[{"creatorType": "author", "firstName": "Ada", "lastName": "Smith"}],
                 tags=[{"tag": "metallurgy"}], collections=["COLLCH02"])  # fmt: skip
        fake.attach("FILEAAAA", "PAPERAAA", "smith.pdf",
                    pdf_bytes("copper rivers carry ore to the harbour"))  # fmt: skip
        fake.put("PAPERBBB", itemType="book", title="Meadow Signals", date="1999",
                 creators=[{"creatorType": "author", "firstName": "Ben", "lastName": "Jones"}])  # fmt: skip
        fake.attach("FILEBBBB", "PAPERBBB", "jones.pdf",
                    pdf_bytes("copper lanterns signal across the meadow"))  # fmt: skip
        yield fake


async def _setup(client, zotero):
    headers = bearer(await sign_up(client))
    chapter = await new_chapter(client, headers)
    made = await client.post(
        f"/v1/chapters/{chapter}/connectors",
        json={"kind": "zotero", "library": zotero.library, "api_key": zotero.api_key,
              "base_url": zotero.base_url},
        headers=headers,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    return headers, chapter, made.json()


async def test_a_zotero_library_syncs_and_is_searched_by_collection_and_cited(
    client, zotero, caplog
):
    caplog.set_level(logging.DEBUG)
    headers, chapter, connector = await _setup(client, zotero)
    assert connector["status"] == "new" and connector["has_credential"] is True
    assert zotero.api_key not in str(connector)
    url = f"/v1/chapters/{chapter}/connectors/{connector['id']}"

    synced = await client.post(f"{url}/sync", headers=headers)
    assert synced.status_code == 200, synced.text
    status = synced.json()
    assert status["status"] == "ok" and status["report"]["added"] == 2
    assert status["cursor"] == str(zotero.version) and status["last_run_at"]

    listed = await client.get(f"/v1/chapters/{chapter}/sources", headers=headers)
    for source in listed.json()["sources"]:
        assert (await until_settled(client, chapter, source["id"], headers))[
            "status"
        ] == "extracted"
    sources = {s["name"]: s for s in listed.json()["sources"]}
    smith = sources["smith.pdf"]
    assert smith["origin"] == "zotero" and smith["connector"] == connector["id"]
    assert smith["ref"] == "FILEAAAA"
    assert smith["meta"] == {"title": "Rivers of Copper", "authors": ["Smith, Ada"],
                             "year": 2020, "doi": None}  # fmt: skip
    assert "collection:/Thesis/Ch2" in smith["tags"] and "type:journalArticle" in smith["tags"]

    # Both PDFs speak of copper; the collection's tag keeps only the one filed in it.
    everything = await search(client, chapter, headers, "copper")
    assert {h["source_name"] for h in everything["hits"]} == {"smith.pdf", "jones.pdf"}
    filtered = await search(client, chapter, headers, "copper", tags=["collection:/Thesis/Ch2"])
    assert {h["source_name"] for h in filtered["hits"]} == {"smith.pdf"}
    assert filtered["hits"][0]["cite"] == "Smith (2020)"
    by_type = await search(client, chapter, headers, "copper", tags=["type:book"])
    assert {h["cite"] for h in by_type["hits"]} == {"Jones (1999)"}

    answer = await client.post(
        f"/v1/chapters/{chapter}/ask",
        json={"question": "What do copper rivers carry?"},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    assert "Smith (2020)" in answer.json()["text"]

    again = await client.post(f"{url}/sync", headers=headers)
    assert again.json()["report"]["appended"] == 0
    assert zotero.api_key not in caplog.text


async def test_a_revoked_key_shows_a_clear_error_on_the_status(client, zotero):
    headers, chapter, connector = await _setup(client, zotero)
    url = f"/v1/chapters/{chapter}/connectors/{connector['id']}"
    zotero.api_key = "a-new-key-after-the-old-was-revoked"
    failed = await client.post(f"{url}/sync", headers=headers)
    error = assert_error(failed, 502, "connector_credential_rejected")
    assert "refused the credential" in error["message"]
    status = (await client.get(url, headers=headers)).json()
    assert status["status"] == "credential_rejected"
    assert "revoked" in status["last_error"] and status["last_error_code"] == error["code"]


async def test_delete_stops_the_connector_and_removes_sources_only_when_asked(client, zotero):
    headers, chapter, connector = await _setup(client, zotero)
    url = f"/v1/chapters/{chapter}/connectors/{connector['id']}"
    await client.post(f"{url}/sync", headers=headers)
    assert (await client.delete(url, headers=headers)).status_code == 204
    assert_error(await client.get(url, headers=headers), 404, "connector_not_found")
    kept = await client.get(f"/v1/chapters/{chapter}/sources", headers=headers)
    assert len(kept.json()["sources"]) == 2

    second = await client.post(
        f"/v1/chapters/{chapter}/connectors",
        json={"kind": "zotero", "library": zotero.library, "api_key": zotero.api_key,
              "base_url": zotero.base_url},
        headers=headers,
    )  # fmt: skip
    url = f"/v1/chapters/{chapter}/connectors/{second.json()['id']}"
    await client.post(f"{url}/sync", headers=headers)
    gone = await client.delete(f"{url}?remove_sources=true", headers=headers)
    assert gone.status_code == 204
    left = await client.get(f"/v1/chapters/{chapter}/sources", headers=headers)
    assert len(left.json()["sources"]) == 2  # the first connector's stay


async def test_bad_configurations_are_refused_clearly(client, zotero, tmp_path):
    headers = bearer(await sign_up(client))
    chapter = await new_chapter(client, headers)
    url = f"/v1/chapters/{chapter}/connectors"
    no_key = await client.post(url, json={"kind": "zotero", "library": "users/1"}, headers=headers)
    assert "api_key" in assert_error(no_key, 422, "invalid_argument")["message"]
    bad_lib = await client.post(
        url, json={"kind": "zotero", "library": "me", "api_key": "k"}, headers=headers
    )
    assert_error(bad_lib, 422, "invalid_argument")
    outside = await client.post(
        url, json={"kind": "zotero_dir", "path": str(tmp_path / "elsewhere")}, headers=headers
    )
    assert "only under" in assert_error(outside, 422, "invalid_argument")["message"]


async def test_a_zotero_directory_under_the_operators_root_is_read_by_the_server(client, tmp_path):
    headers = bearer(await sign_up(client))
    chapter = await new_chapter(client, headers)
    zdir = ZoteroDir(tmp_path / "shared" / "Zotero")
    paper = zdir.add_paper(title="Granite Ledger", authors=[("Cy", "Brown")], date="2011")
    zdir.attach(paper, "brown.pdf", pdf_bytes("granite ledger"))
    zdir.close()
    made = await client.post(
        f"/v1/chapters/{chapter}/connectors", json={"kind": "zotero_dir", "path": "Zotero"},
        headers=headers,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["pushed"] is False
    synced = await client.post(
        f"/v1/chapters/{chapter}/connectors/{made.json()['id']}/sync", headers=headers
    )
    assert synced.status_code == 200, synced.text
    assert synced.json()["report"]["added"] == 1


async def test_a_confluence_space_syncs_over_http(client):
    headers = bearer(await sign_up(client))
    chapter = await new_chapter(client, headers)
    with FakeConfluence() as confluence:
        confluence.page("11", "ENG", "Beacon runbook", "<p>restart the beacon at dawn</p>",
                        labels=["ops"])  # fmt: skip
        made = await client.post(
            f"/v1/chapters/{chapter}/connectors",
            json={"kind": "confluence", "library": "ENG", "base_url": confluence.base_url,
                  "api_key": confluence.token, "email": confluence.email},
            headers=headers,
        )  # fmt: skip
        assert made.status_code == 201, made.text
        assert made.json()["email"] == confluence.email and confluence.token not in made.text
        url = f"/v1/chapters/{chapter}/connectors/{made.json()['id']}"
        synced = await client.post(f"{url}/sync", headers=headers)
        assert synced.status_code == 200, synced.text
        assert synced.json()["report"]["added"] == 1
        listed = (await client.get(f"/v1/chapters/{chapter}/sources", headers=headers)).json()
        [page] = listed["sources"]
        assert page["origin"] == "confluence" and "space:ENG" in page["tags"]
        assert (await until_settled(client, chapter, page["id"], headers))["status"] == "extracted"
        found = await search(client, chapter, headers, "beacon at dawn", tags=["space:ENG"])
        assert found["hits"] and found["hits"][0]["source_name"] == "Beacon runbook.html"
    no_url = await client.post(
        f"/v1/chapters/{chapter}/connectors",
        json={"kind": "confluence", "library": "ENG", "api_key": "k"}, headers=headers,
    )  # fmt: skip
    assert "base_url" in assert_error(no_url, 422, "invalid_argument")["message"]


async def test_a_notion_workspace_syncs_over_http(client):
    headers = bearer(await sign_up(client))
    chapter = await new_chapter(client, headers)
    with FakeNotion() as notion:
        notion.page("p-1", "Orchard plan", ["prune the willow before the frost"], tags=["garden"])
        made = await client.post(
            f"/v1/chapters/{chapter}/connectors",
            json={"kind": "notion", "api_key": notion.token, "base_url": notion.base_url},
            headers=headers,
        )
        assert made.status_code == 201, made.text
        url = f"/v1/chapters/{chapter}/connectors/{made.json()['id']}"
        synced = await client.post(f"{url}/sync", headers=headers)
        assert synced.status_code == 200, synced.text
        assert synced.json()["report"]["added"] == 1
        [page] = (await client.get(f"/v1/chapters/{chapter}/sources", headers=headers)).json()[
            "sources"
        ]
        assert page["origin"] == "notion" and page["tags"] == ["garden", "type:page"]
        notion.token = "secret_rotated"
        failed = await client.post(f"{url}/sync", headers=headers)
        assert_error(failed, 502, "connector_credential_rejected")
        assert (await client.get(url, headers=headers)).json()["status"] == "credential_rejected"


async def test_a_directory_pushed_in_several_batches_moves_its_cursor_once(
    app, tmp_path, monkeypatch
):
    # Small batches, so one sync is several pushes: each is sent as soon as it fills (only one
    # batch's files in memory), and only the last carries the cursor and the deletions.
    monkeypatch.setattr(local_library, "BATCH_FILES", 2)
    monkeypatch.setattr(local_library, "BATCH_ITEMS", 3)
    zdir = ZoteroDir(tmp_path / "Zotero")
    for n in range(5):
        paper = zdir.add_paper(title=f"Paper {n}", authors=[("Ann", "Lee")], date="2020")
        zdir.attach(paper, f"lee{n}.pdf", pdf_bytes(f"granite paper number {n}"))
    pushes: list[tuple[int, int]] = []
    try:
        transport = httpx.ASGITransport(app)
        async with AsyncClient("http://ragstack.test", transport=transport) as sdk:
            await sdk.signup("lee@example.org", "correct horse battery", "Lee")
            book = await sdk.create_book("Batches")
            chapter = (await sdk.create_chapter(book.id, "Papers")).id
            connector = await sdk.create_connector(chapter, kind="zotero_dir")

            def progress(phase: str, done: int, total: int) -> None:
                if phase == "push":
                    pushes.append((done, total))

            status, report = await sync_zotero_dir(
                sdk, chapter, connector, zdir.root, progress=progress
            )
            assert len(pushes) >= 3 and pushes[-1][0] == pushes[-1][1]
            assert report is not None and report.added == 5 and report.error_count == 0
            assert status.cursor is not None and status.status == "ok"

            _, again = await sync_zotero_dir(sdk, chapter, status, zdir.root)
            assert again is not None and again.appended == 0
    finally:
        zdir.close()


async def test_an_obsidian_vault_is_pushed_from_this_machine_or_read_under_the_root(app, tmp_path):
    vault = tmp_path / "Vault"
    (vault / "Papers").mkdir(parents=True)
    (vault / "Papers" / "Copper.md").write_text(
        '---\nauthors: ["Smith, Ada"]\ndate: 2020\n---\nCopper rivers. #metallurgy [[Meadow]]'
    )
    (vault / ".obsidian").mkdir()
    (vault / ".obsidian" / "workspace.md").write_text("not a note")
    transport = httpx.ASGITransport(app)
    async with AsyncClient("http://ragstack.test", transport=transport) as sdk:
        await sdk.signup("vault@example.org", "correct horse battery", "Vee")
        book = await sdk.create_book("Notes")
        chapter = (await sdk.create_chapter(book.id, "Vault")).id
        connector = await sdk.create_connector(chapter, kind="obsidian")
        assert connector.pushed is True
        status, report = await sync_obsidian_vault(sdk, chapter, connector, vault)
        assert report is not None and report.added == 1 and status.status == "ok"
        [note] = await sdk.sources(chapter)
        assert note.origin == "obsidian" and note.ref == "Papers/Copper.md"
        assert note.tags == ["collection:/Papers", "metallurgy", "type:note"]

        # The server reads a vault itself only under the operator's root.
        shared = tmp_path / "shared" / "Vault"
        shared.mkdir(parents=True)
        (shared / "Plan.md").write_text("prune the willow")
        served = await sdk.create_connector(chapter, kind="obsidian", path="Vault")
        assert served.pushed is False
        synced = await sdk.sync_connector(chapter, served.id)
        assert synced.report is not None and synced.report.added == 1
