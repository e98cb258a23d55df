"""Sources over HTTP against real services: upload, status, text, edit, retag, delete, search.

Each test gets a whole embedded system (nats-server, SQLite, Chroma, the local embedder), signs
up over HTTP and makes a book and a chapter through the API, then drives the sources routes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from gateway_support import assert_error, bearer, sign_up
from sources_support import new_chapter, search, sources_url, stored_files, until_settled, upload

from engine.settings import Limits
from events import SourceEdited
from tests.engine.website_support import PNG_RED

UPLOAD_LIMIT = 200_000

LIGHTHOUSE = (
    "Lighthouses of the northern coast were lit by whale oil until 1870, when mineral oil "
    "replaced it. Each keeper logged the weather every four hours and trimmed the wicks at dusk."
)
BREAD = (
    "Sourdough bread rises because wild yeast and lactic acid bacteria in the starter ferment "
    "the flour. A long cold proof gives the loaf its sour taste and open crumb."
)
BEES = (
    "Honey bees tell each other where flowers are with a waggle dance: the angle of the run "
    "gives the direction relative to the sun and its length gives the distance."
)


@pytest.fixture
def limits() -> Limits:
    return Limits(
        upload_bytes=UPLOAD_LIMIT, requests_per_minute_token=0, requests_per_minute_address=0
    )


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> dict[str, str]:
    return bearer(await sign_up(client))


@pytest.fixture
async def chapter(client: httpx.AsyncClient, owner: dict[str, str]) -> str:
    return await new_chapter(client, owner)


async def test_an_upload_is_pending_then_extracted_then_searchable(client, owner, chapter):
    # Uploaded without waiting: the answer comes at once, before ingest has (usually) run.
    added = await upload(
        client, chapter, owner, [("lighthouses.txt", LIGHTHOUSE.encode(), "text/plain")]
    )
    assert added.status_code == 201, added.text
    [source] = added.json()["sources"]
    assert set(source) >= {"id", "name", "media_type", "size", "status", "reason", "tags", "rev"}
    assert (source["name"], source["size"], source["origin"]) == (
        "lighthouses.txt",
        len(LIGHTHOUSE),
        "upload",
    )
    assert source["status"] in ("pending", "extracted")
    assert added.json()["rev"] == source["rev"] >= 2
    # Ingest extracts it.
    settled = await until_settled(client, chapter, source["id"], owner)
    assert settled["status"] == "extracted" and settled["chunks"] >= 1 and settled["reason"] is None
    text = await client.get(sources_url(chapter, source["id"], "text"), headers=owner)
    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text.strip() == LIGHTHOUSE
    # With ?wait=true the answer waits for extraction, and the passage is searchable at once.
    waited = await upload(
        client, chapter, owner, [("bread.txt", BREAD.encode(), "text/plain")], wait=True
    )
    assert waited.status_code == 201, waited.text
    [bread] = waited.json()["sources"]
    assert bread["status"] == "extracted"
    found = await search(client, chapter, owner, "why does sourdough taste sour?", k=2)
    top = found["hits"][0]
    assert top["source"] == bread["id"] and top["source_name"] == "bread.txt"
    assert "lactic acid" in top["text"]
    assert set(top["span"]) == {"start", "end", "page", "heading"}
    assert top["text"] == BREAD[top["span"]["start"] : top["span"]["end"]]
    assert isinstance(top["score"], float) and len(top["chunk"]) == 64
    assert found["rev"] >= waited.json()["rev"]


async def test_several_files_and_tags_in_one_request(client, owner, chapter):
    files = [
        ("bees.md", f"# Bees\n\n{BEES}".encode(), "text/markdown"),
        ("bread.txt", BREAD.encode(), "text/plain"),
        ("figure.png", PNG_RED, "image/png"),
        ("empty.txt", b"", "text/plain"),
    ]
    added = await upload(
        client, chapter, owner, files, tags=["nature", " food", "nature"], wait=True
    )
    assert added.status_code == 201, added.text
    sources = added.json()["sources"]
    assert [s["name"] for s in sources] == ["bees.md", "bread.txt", "figure.png", "empty.txt"]
    assert all(s["tags"] == ["food", "nature"] for s in sources)
    assert [s["status"] for s in sources] == ["extracted", "extracted", "rejected", "rejected"]
    # A file RagStack cannot read is accepted, then rejected with a reason a person can act on.
    png, empty = sources[2], sources[3]
    assert png["code"] == "unsupported" and "figure.png" in png["reason"]
    assert "image" in png["reason"].lower()
    assert empty["code"] == "empty" and "empty" in empty["reason"]
    no_text = await client.get(sources_url(chapter, png["id"], "text"), headers=owner)
    assert "rejected" in assert_error(no_text, 409, "not_extracted")["message"]
    # The list shows them in order, filtered by tag and by status.
    listed = await client.get(sources_url(chapter), headers=owner)
    assert [s["id"] for s in listed.json()["sources"]] == [s["id"] for s in sources]
    rejected = await client.get(sources_url(chapter), params={"status": "rejected"}, headers=owner)
    assert {s["name"] for s in rejected.json()["sources"]} == {"figure.png", "empty.txt"}
    assert (
        await client.get(sources_url(chapter), params={"tag": "other"}, headers=owner)
    ).json() == {"sources": []}
    by_tags = await client.get(sources_url(chapter), params={"tags": "other,food"}, headers=owner)
    assert len(by_tags.json()["sources"]) == 4
    # The original bytes come back as a download.
    original = await client.get(sources_url(chapter, png["id"], "file"), headers=owner)
    assert original.status_code == 200 and original.content == PNG_RED
    assert original.headers["content-type"] == "image/png"
    assert 'filename="figure.png"' in original.headers["content-disposition"]


async def test_an_oversized_upload_is_refused_and_stores_nothing(client, owner, chapter, services):
    log = services.logs.chapter(chapter)
    head = (await log.head()).rev
    blob_root = services.settings.data / "blobs"
    before = stored_files(blob_root)  # the chapter's own personal blob (its sealed title)
    big = b"x" * (UPLOAD_LIMIT + 100_000)
    # Declared too large: refused before the body is read.
    refused = await upload(client, chapter, owner, [("big.txt", big, "text/plain")])
    assert "200,000" in assert_error(refused, 413, "payload_too_large")["message"]
    # Streamed without a length: refused once it grows past the limit.
    boundary = "xyzzy"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        + big
        + f"\r\n--{boundary}--\r\n".encode()
    )

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 16_384):
            yield body[start : start + 16_384]

    streamed = await client.post(
        sources_url(chapter),
        content=chunks(),
        headers={**owner, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert "transfer-encoding" in streamed.request.headers
    assert_error(streamed, 413, "payload_too_large")
    # Files that fit the body's slack but not the limit together.
    part = b"y" * (UPLOAD_LIMIT // 2 + 10_000)
    together = await upload(
        client, chapter, owner, [("a.txt", part, "text/plain"), ("b.txt", part, "text/plain")]
    )
    assert_error(together, 413, "payload_too_large")
    # Nothing reached the log or the blob store.
    assert (await log.head()).rev == head
    assert stored_files(blob_root) == before
    assert (await client.get(sources_url(chapter), headers=owner)).json() == {"sources": []}


async def test_malformed_uploads_are_clear_errors(client, owner, chapter, services):
    url = sources_url(chapter)
    head = (await services.logs.chapter(chapter).head()).rev
    # A form with no file at all.
    no_file = await client.post(url, files={"tags": (None, "x")}, headers=owner)
    assert "no file" in assert_error(no_file, 400, "bad_request")["message"]
    # A `file` field that carries no file.
    not_a_file = await client.post(url, files={"file": (None, "just text")}, headers=owner)
    assert "filename" in assert_error(not_a_file, 400, "bad_request")["message"]
    # An unknown field, and a file under another name.
    unknown = await client.post(
        url, files={"file": ("a.txt", b"a"), "tag": (None, "x")}, headers=owner
    )
    assert "'tag'" in assert_error(unknown, 400, "bad_request")["message"]
    misnamed = await client.post(url, files={"document": ("a.txt", b"a")}, headers=owner)
    assert "'document'" in assert_error(misnamed, 400, "bad_request")["message"]
    # A body that is not multipart at all.
    broken = await client.post(
        url,
        content=b"garbage",
        headers={**owner, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert_error(broken, 400, "bad_request")
    plain = await client.post(
        url, content=b"hello", headers={**owner, "Content-Type": "text/plain"}
    )
    assert "text/plain" in assert_error(plain, 415, "unsupported_media_type")["message"]
    # Bad tags and bad JSON are 422.
    too_long = await upload(
        client, chapter, owner, [("a.txt", b"a", "text/plain")], tags=["t" * 65]
    )
    assert_error(too_long, 422, "invalid_argument")
    no_url = await client.post(url, json={"tags": ["x"]}, headers=owner)
    assert assert_error(no_url, 422, "validation_error")["details"][0]["loc"] == ["body", "url"]
    not_json = await client.post(
        url, content=b"{", headers={**owner, "Content-Type": "application/json"}
    )
    assert_error(not_json, 422, "validation_error")
    assert (await services.logs.chapter(chapter).head()).rev == head


async def test_editing_the_text_re_extracts_it(client, owner, chapter, services):
    added = await upload(
        client, chapter, owner, [("bees.txt", BEES.encode(), "text/plain")], wait=True
    )
    source = added.json()["sources"][0]["id"]
    original = (await client.get(sources_url(chapter, source, "text"), headers=owner)).text
    extra = "Drones do not dance; only foragers returning from flowers do."
    edited_text = original.rstrip() + "\n\n" + extra
    edited = await client.patch(
        sources_url(chapter, source), json={"text": edited_text}, headers=owner
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["status"] in ("pending", "extracted")
    settled = await until_settled(client, chapter, source, owner)
    assert settled["status"] == "extracted"
    assert (
        await client.get(sources_url(chapter, source, "text"), headers=owner)
    ).text == edited_text
    # The log records the edit as a patch against the old text, far smaller than the text.
    events = [e.envelope.body async for e in services.logs.chapter(chapter).read()]
    [edit] = [b for b in events if isinstance(b, SourceEdited)]
    assert len(edit.patch) < len(edited_text)
    # Search finds the new sentence.
    found = await search(client, chapter, owner, "which bees do not dance?", k=1)
    assert "Drones do not dance" in found["hits"][0]["text"]
    # The same text again changes nothing; an empty text or an unknown field is refused.
    head = (await services.logs.chapter(chapter).head()).rev
    same = await client.patch(
        sources_url(chapter, source), json={"text": edited_text}, headers=owner
    )
    assert same.status_code == 200 and (await services.logs.chapter(chapter).head()).rev == head
    assert_error(
        await client.patch(sources_url(chapter, source), json={"text": "  "}, headers=owner),
        422,
        "invalid_argument",
    )
    assert_error(
        await client.patch(sources_url(chapter, source), json={"title": "x"}, headers=owner),
        422,
        "validation_error",
    )
    assert_error(
        await client.patch(sources_url(chapter, source), json={}, headers=owner),
        422,
        "invalid_argument",
    )


async def test_an_edit_based_on_a_stale_revision_is_refused(client, owner, chapter, services):
    added = await upload(
        client, chapter, owner, [("bees.txt", BEES.encode(), "text/plain")], wait=True
    )
    seen = added.json()["sources"][0]
    source, rev = seen["id"], seen["rev"]
    # Someone else retags it after we read it: its rev moves on.
    other = await client.patch(sources_url(chapter, source), json={"tags": ["x"]}, headers=owner)
    assert other.status_code == 200 and other.json()["rev"] > rev
    # Our edit, based on the rev we read, is refused and appends nothing.
    head = (await services.logs.chapter(chapter).head()).rev
    stale = await client.patch(
        sources_url(chapter, source), json={"text": "Bees sleep.", "rev": rev}, headers=owner
    )
    error = assert_error(stale, 409, "source_changed")
    assert "changed since you opened it" in error["message"]
    assert_error(
        await client.patch(
            sources_url(chapter, source), json={"tags": [], "rev": rev}, headers=owner
        ),
        409,
        "source_changed",
    )
    assert (await services.logs.chapter(chapter).head()).rev == head
    text = (await client.get(sources_url(chapter, source, "text"), headers=owner)).text
    assert text.strip() == BEES
    # Based on the current rev, the same edit goes through.
    fresh = await client.patch(
        sources_url(chapter, source),
        json={"text": "Bees sleep.", "rev": other.json()["rev"]},
        headers=owner,
    )
    assert fresh.status_code == 200, fresh.text
    assert (await until_settled(client, chapter, source, owner))["status"] == "extracted"
    assert (await client.get(sources_url(chapter, source, "text"), headers=owner)).text == (
        "Bees sleep."
    )
    # A rev that is no number is a validation error, not a conflict.
    assert_error(
        await client.patch(
            sources_url(chapter, source), json={"tags": [], "rev": -1}, headers=owner
        ),
        422,
        "validation_error",
    )


async def test_a_rejected_source_cannot_be_edited(client, owner, chapter):
    added = await upload(client, chapter, owner, [("pic.png", PNG_RED, "image/png")], wait=True)
    source = added.json()["sources"][0]["id"]
    refused = await client.patch(
        sources_url(chapter, source), json={"text": "words"}, headers=owner
    )
    assert "rejected" in assert_error(refused, 409, "not_extracted")["message"]


async def test_retagging_changes_what_a_tag_filtered_search_finds(client, owner, chapter):
    bees = await upload(
        client,
        chapter,
        owner,
        [("bees.txt", BEES.encode(), "text/plain")],
        tags=["insects"],
        wait=True,
    )
    bread = await upload(
        client,
        chapter,
        owner,
        [("bread.txt", BREAD.encode(), "text/plain")],
        tags=["kitchen"],
        wait=True,
    )
    bees_id, bread_id = bees.json()["sources"][0]["id"], bread.json()["sources"][0]["id"]
    # A search limited to a tag only sees sources with that tag.
    found = await search(client, chapter, owner, "how do bees find flowers?", tags=["kitchen"])
    assert {h["source"] for h in found["hits"]} == {bread_id}
    # Retag the bees: now they are in the kitchen too, and no longer insects.
    retagged = await client.patch(
        sources_url(chapter, bees_id), json={"tags": ["kitchen", "honey"]}, headers=owner
    )
    assert retagged.status_code == 200, retagged.text
    assert retagged.json()["tags"] == ["honey", "kitchen"]
    found = await search(client, chapter, owner, "how do bees find flowers?", tags=["kitchen"])
    assert found["hits"][0]["source"] == bees_id
    assert (await search(client, chapter, owner, "bees", tags=["insects"]))["hits"] == []
    listed = await client.get(sources_url(chapter), params=[("tag", "honey")], headers=owner)
    assert [s["id"] for s in listed.json()["sources"]] == [bees_id]


async def test_a_deleted_source_is_gone_from_search(client, owner, chapter, services):
    added = await upload(
        client,
        chapter,
        owner,
        [("bees.txt", BEES.encode(), "text/plain"), ("bread.txt", BREAD.encode(), "text/plain")],
        wait=True,
    )
    bees_id, bread_id = (s["id"] for s in added.json()["sources"])
    assert (await search(client, chapter, owner, "waggle dance", k=1))["hits"][0][
        "source"
    ] == bees_id
    gone = await client.delete(sources_url(chapter, bees_id), headers=owner)
    assert gone.status_code == 204
    found = await search(client, chapter, owner, "waggle dance", k=5)
    assert {h["source"] for h in found["hits"]} == {bread_id}
    # It stays visible as removed, out of the list; deleting again changes nothing.
    shown = await client.get(sources_url(chapter, bees_id), headers=owner)
    assert shown.json()["status"] == "removed"
    listed = await client.get(sources_url(chapter), headers=owner)
    assert [s["id"] for s in listed.json()["sources"]] == [bread_id]
    removed = await client.get(sources_url(chapter), params={"status": "removed"}, headers=owner)
    assert [s["id"] for s in removed.json()["sources"]] == [bees_id]
    head = (await services.logs.chapter(chapter).head()).rev
    assert (await client.delete(sources_url(chapter, bees_id), headers=owner)).status_code == 204
    assert (await services.logs.chapter(chapter).head()).rev == head
    assert_error(
        await client.get(sources_url(chapter, bees_id, "text"), headers=owner), 409, "not_extracted"
    )
    retag = await client.patch(sources_url(chapter, bees_id), json={"tags": ["x"]}, headers=owner)
    assert_error(retag, 409, "source_removed")


async def test_unknown_sources_and_other_chapters_are_404(client, owner, chapter):
    added = await upload(client, chapter, owner, [("a.txt", b"alpha", "text/plain")])
    source = added.json()["sources"][0]["id"]
    other = await new_chapter(client, owner)
    for path in ("", "/text", "/file"):
        assert_error(
            await client.get(sources_url(other, source) + path, headers=owner),
            404,
            "source_not_found",
        )
    assert_error(
        await client.delete(sources_url(other, source), headers=owner), 404, "source_not_found"
    )
    assert_error(
        await client.get(sources_url(chapter, "01nosuchsource"), headers=owner),
        404,
        "source_not_found",
    )
    # Someone else does not see the chapter at all.
    stranger = bearer(await sign_up(client, "eve@example.org"))
    assert_error(await client.get(sources_url(chapter), headers=stranger), 404, "not_found")
    assert_error(
        await upload(client, chapter, stranger, [("b.txt", b"b", "text/plain")]), 404, "not_found"
    )


async def test_search_checks_its_request(client, owner, chapter):
    url = f"/v1/chapters/{chapter}/search"
    assert (await search(client, chapter, owner, "anything"))["hits"] == []
    for body in (
        {"query": "x", "k": 0},
        {"query": "x", "k": 51},
        {"query": ""},
        {"k": 3},
        {"query": "x", "top": 1},
    ):
        assert_error(await client.post(url, json=body, headers=owner), 422, "validation_error")
    assert_error(
        await client.post(url, json={"query": "   "}, headers=owner), 422, "invalid_argument"
    )


async def test_the_original_comes_back_as_a_safe_download(client, owner, chapter):
    name = "Résumé\\2024.txt"  # a backslash: clean_name takes it as a path separator
    added = await upload(client, chapter, owner, [(name, b"Curriculum vitae.", "text/plain")])
    source = added.json()["sources"][0]
    assert source["name"] == "2024.txt"
    name = "Résumé (final).txt"
    added = await upload(client, chapter, owner, [(name, b"Curriculum vitae.", "text/plain")])
    source = added.json()["sources"][0]
    assert source["name"] == name
    got = await client.get(sources_url(chapter, source["id"], "file"), headers=owner)
    assert got.status_code == 200 and got.content == b"Curriculum vitae."
    assert got.headers["content-type"].startswith("text/plain")
    assert got.headers["x-content-type-options"] == "nosniff"
    disposition = got.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="R_sum_ (final).txt"')
    assert disposition.endswith("filename*=UTF-8''R%C3%A9sum%C3%A9%20%28final%29.txt")


async def test_concurrent_searches_of_two_chapters_each_see_only_their_own(client, owner):
    # Concurrent searches share embedder and index calls; answers must never cross chapters.
    first, second = await new_chapter(client, owner), await new_chapter(client, owner)
    for chapter, name, text in ((first, "bread.txt", BREAD), (second, "lights.txt", LIGHTHOUSE)):
        added = await upload(
            client, chapter, owner, [(name, text.encode(), "text/plain")], wait=True
        )
        assert added.status_code == 201, added.text
    queries = ["why does sourdough taste sour?", "what does a lighthouse do?"] * 6
    answers = await asyncio.gather(
        *(search(client, chapter, owner, q, k=1) for q in queries for chapter in (first, second))
    )
    names = [answer["hits"][0]["source_name"] for answer in answers]
    assert names == ["bread.txt", "lights.txt"] * len(queries)
