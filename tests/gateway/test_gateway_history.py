"""History over HTTP against real services: diffs between revs, search and ask as of a rev, and
an answer's provenance. The chapter's life is the audit tests' (tests/gateway/test_gateway_audit.py):
two sources ingested, one edited and retagged, the other removed, a chat exchange, a rename."""

from __future__ import annotations

import httpx
from gateway_support import assert_error

from app.services import Services
from events import MessagePosted
from tests.gateway.test_gateway_audit import Chapter, chapter, limits

__all__ = ["chapter", "limits"]


async def test_a_diff_lists_what_changed_between_two_revs(client: httpx.AsyncClient, chapter):
    c: Chapter = chapter
    answer = await client.get(
        c.url("diff"),
        params={"from": c.marks["ingested"], "to": c.marks["renamed"]},
        headers=c.headers,
    )
    assert answer.status_code == 200, answer.text
    d = answer.json()
    assert (d["from_rev"], d["to_rev"]) == (c.marks["ingested"], c.marks["renamed"])
    assert d["renamed"] == {"old": "Lighthouses", "new": "Lighthouses, revised"}
    assert [s["id"] for s in d["sources_removed"]] == [c.notes]
    assert d["sources_retagged"] == [
        {"id": c.report, "name": "report.md", "old": ["survey"], "new": ["final", "survey"]}
    ]
    [edit] = d["sources_edited"]
    assert edit["id"] == c.report
    assert "-The survey of the northern lighthouses cost twelve" in edit["diff"]["unified"]
    assert "+The survey of the northern lighthouses cost fourteen" in edit["diff"]["unified"]
    assert [(m["id"], m["role"]) for m in d["messages_added"]] == [
        ("q1", "user"),
        ("a1", "assistant"),
    ]
    # From the empty chapter to now, with `to` left out: both sources were added, one remains.
    whole = (await client.get(c.url("diff"), params={"from": 0}, headers=c.headers)).json()
    assert [s["id"] for s in whole["sources_added"]] == [c.report]
    assert whole["renamed"] is None


async def test_a_diff_the_wrong_way_round_or_past_the_head_is_400(
    client: httpx.AsyncClient, chapter
):
    c: Chapter = chapter
    head = c.marks["renamed"]
    backwards = await client.get(c.url("diff"), params={"from": 3, "to": 2}, headers=c.headers)
    assert_error(backwards, 400, "rev_out_of_range")
    assert "from 3 is after to 2" in backwards.json()["error"]["message"]
    past = await client.get(c.url("diff"), params={"from": 0, "to": head + 5}, headers=c.headers)
    assert_error(past, 400, "rev_out_of_range")
    assert f"has {head} events" in past.json()["error"]["message"]


async def test_search_as_of_a_rev_finds_what_was_there_then(client: httpx.AsyncClient, chapter):
    c: Chapter = chapter
    query = {"query": "Buy more wick", "k": 5}
    now = await client.post(c.url("search"), json=query, headers=c.headers)
    assert c.notes not in {h["source"] for h in now.json()["hits"]}
    then = await client.post(
        c.url("search"), json={**query, "rev": c.marks["ingested"]}, headers=c.headers
    )
    assert then.status_code == 200, then.text
    assert then.json()["rev"] == c.marks["ingested"]
    assert c.notes in {h["source"] for h in then.json()["hits"]}
    # Tags as they stood then: "final" came later.
    tagged = await client.post(
        c.url("search"),
        json={**query, "rev": c.marks["ingested"], "tags": ["final"]},
        headers=c.headers,
    )
    assert tagged.json()["hits"] == []
    past = await client.post(c.url("search"), json={**query, "rev": 10**6}, headers=c.headers)
    assert_error(past, 400, "rev_out_of_range")


async def test_an_answer_asked_as_of_a_rev_has_a_provenance_that_re_runs_the_same(
    client: httpx.AsyncClient, services: Services, chapter
):
    c: Chapter = chapter
    asked = await client.post(
        c.url("ask"),
        json={"question": "What did the survey cost?", "rev": c.marks["ingested"]},
        headers=c.headers,
    )
    assert asked.status_code == 200, asked.text
    answer = asked.json()
    assert answer["rev"] == c.marks["ingested"]
    url = c.url(f"threads/{answer['thread']}/messages/{answer['id']}/provenance")
    found = await client.get(url, headers=c.headers)
    assert found.status_code == 200, found.text
    p = found.json()
    assert (p["same"], p["compared"], p["answered_at_rev"]) == (True, "passages", answer["rev"])
    assert p["query"] == "What did the survey cost?" and p["retrieval"]["k"] == 8
    assert all(passage["verified"] for passage in p["citations"])
    assert "twelve thousand pounds" in p["citations"][0]["text"]  # the text before the edit

    # An older answer (no recorded retrieval, no recorded query) re-runs its thread's question
    # and is compared by its citations; the fixture's made-up chunk does not verify.
    [old] = [
        r.envelope.body
        async for r in services.logs.chapter(c.id).read()
        if isinstance(r.envelope.body, MessagePosted) and r.envelope.body.message == "a1"
    ]
    legacy = await client.get(
        c.url(f"threads/{old.thread}/messages/a1/provenance"), headers=c.headers
    )
    assert legacy.status_code == 200, legacy.text
    q = legacy.json()
    assert (q["compared"], q["query"], q["query_recorded"]) == (
        "citations", "What did it cost?", False,
    )  # fmt: skip
    assert q["retrieval"] is None and q["model"] == "extractive"
    assert [x["verified"] for x in q["citations"]] == [False]
    question = await client.get(
        c.url(f"threads/{old.thread}/messages/q1/provenance"), headers=c.headers
    )
    assert_error(question, 422, "invalid_argument")
    missing = await client.get(
        c.url(f"threads/{answer['thread']}/messages/nope/provenance"), headers=c.headers
    )
    assert_error(missing, 404, "message_not_found")
