"""The isolation matrix: every /v1 route, called by every kind of actor, answers exactly as it must.

Actors (tests/gateway/isolation_support.py): the book's owner, an admin, a member on their own
chapter, the same member on another member's chapter, a removed member, a stranger, no token and
an expired token. One world (real services: nats-server, SQLite, Chroma) is built for the module.

A /v1 route without a row here fails `test_every_v1_route_has_a_row`: add one line to `ROWS`
with the profile that says who may call it (isolation_support: public, signed_in, book_member,
book_admin, chapter, chapter_admin, member_owned) and the success status.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi.routing import APIRoute, iter_route_contexts
from isolation_support import (
    ACTORS,
    PASSWORD,
    Row,
    World,
    book_admin,
    book_member,
    chapter,
    chapter_admin,
    crossed_rows,
    member_owned,
    public,
    sign_up_person,
    signed_in,
    unique,
)

from app.asking import Asked, ask, start_thread
from app.connectors import configure as configure_connector
from app.services import open_services
from app.settings import Settings
from engine.settings import Limits
from events.archive import ARCHIVE_MEDIA_TYPE
from gateway.app import create_app
from tests.accounts_support import ManualClock, fast_passwords
from tests.audit import log_format_example

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _signup(world: World, actor: str) -> dict:
    return {"json": {"email": unique("new") + "@example.org", "password": PASSWORD}}


def _invite(world: World, actor: str) -> dict:
    return {"json": {"email": unique("invitee") + "@example.org", "role": "member"}}


def _to_admin(world: World, actor: str) -> dict:
    return {"json": {"assignee": world.admin.id}}


def _archive(world: World, actor: str) -> dict:
    # The worked example of docs/log-format.md: a small archive that verifies.
    return {"content": log_format_example.build().archive,
            "headers": {"Content-Type": ARCHIVE_MEDIA_TYPE}}  # fmt: skip


async def _google(world: World, actor: str, values: dict[str, str], fresh: bool) -> str:
    return "google"


async def _microsoft(world: World, actor: str, values: dict[str, str], fresh: bool) -> str:
    return "microsoft"


async def _no_flow(world: World, actor: str, values: dict[str, str], fresh: bool) -> str:
    return "f" * 32


async def _thread(world: World, actor: str, values: dict[str, str], fresh: bool) -> str:
    key = ("thread", values["chapter"])
    if key not in world.cache:
        started = await start_thread(
            world.services.read, chapter=values["chapter"], actor=world.owner.id
        )
        world.cache[key] = started.id
    return world.cache[key]


async def _answer(world: World, actor: str, values: dict[str, str], fresh: bool) -> str:
    # An extractive answer in the chapter's thread, for its provenance.
    key = ("answer", values["chapter"])
    if key not in world.cache:
        stream = ask(
            world.services.read, chapter=values["chapter"], thread=values["thread"],
            question="Who sees this?", actor=world.owner.id, llm=None,
        )  # fmt: skip
        [answer] = [item async for item in stream if isinstance(item, Asked)]
        world.cache[key] = answer.id
    return world.cache[key]


async def _extracted_source(world: World, actor: str, values: dict[str, str], fresh: bool) -> str:
    # A source that ingest has extracted, so that it has a text to read.
    chapter_id = values["chapter"]
    key = ("extracted source", chapter_id)
    if key not in world.cache:
        source = await world.new_source(chapter_id)
        catalogue = world.services.read.catalogue
        async with asyncio.timeout(30):
            while True:
                view = await catalogue.source(chapter_id, source)
                if view is not None and view.status != "pending":
                    break
                await asyncio.sleep(0.05)
        world.cache[key] = source
    return world.cache[key]


async def _share(world: World, actor: str, values: dict[str, str], fresh: bool) -> str:
    granted = await world.services.shares.grant(
        world.owner.id, world.owner.email, values["chapter"], mode="proxied",
        grantee="guest@example.org",
    )  # fmt: skip
    return granted.access.id


async def _no_source(world: World, actor: str, values: dict[str, str], fresh: bool) -> str:
    return "01hzzzzzzzzzzzzzzzzzzzzzzz"  # without a share's token, no source is looked up


async def _no_blob(world: World, actor: str, values: dict[str, str], fresh: bool) -> str:
    return "0" * 64  # without a share's token, no blob is looked up


async def _connector(world: World, actor: str, values: dict[str, str], fresh: bool) -> str:
    # A Zotero-directory connector its CLI pushes to: configuring it calls no outside service.
    key = ("connector", values["chapter"])
    if key not in world.cache:
        view = await configure_connector(
            world.services, values["chapter"], actor=world.owner.id, kind="zotero_dir"
        )
        world.cache[key] = view.id
    return world.cache[key]


_NO_CHANGES = {"files": {"file": ("changes.json", b'{"items": []}', "application/json")}}


async def _share_token(world: World, actor: str, values: dict[str, str], fresh: bool) -> str:
    key = ("share_token",)
    if key not in world.cache:
        granted = await world.services.shares.grant(
            world.member.id, world.member.email, world.member_chapter, mode="proxied",
            grantee="guest@example.org",
        )  # fmt: skip
        world.cache[key] = granted.token
    return world.cache[key]


# A table: one line per row, aligned by hand.
# fmt: off
ROWS: list[Row] = [
    # auth and info
    Row("POST",   "/v1/auth/signup",                  public(201),        _signup),
    Row("POST",   "/v1/auth/login",                   public(200),        {"json": {"email": "member@example.org", "password": PASSWORD}}),
    Row("POST",   "/v1/auth/session",                 public(200),        {"json": {"email": "member@example.org", "password": PASSWORD}}),
    Row("POST",   "/v1/auth/session/signup",          public(201),        _signup),
    Row("GET",    "/v1/auth/session",                 public(401)),       # a bearer token is no browser session
    Row("DELETE", "/v1/auth/session",                 public(204)),       # no session cookie: nothing to end
    Row("POST",   "/v1/auth/tokens",                  signed_in(201),     {"json": {"name": "matrix"}}),
    Row("GET",    "/v1/auth/tokens",                  signed_in(200)),
    Row("DELETE", "/v1/auth/tokens/{token_id}",       member_owned(204)),
    Row("GET",    "/v1/me",                           signed_in(200)),
    Row("GET",    "/v1/me/export",                    signed_in(200)),
    Row("GET",    "/v1/info",                         public(200)),
    # books and members
    Row("GET",    "/v1/books",                        signed_in(200)),
    Row("POST",   "/v1/books",                        signed_in(201),     {"json": {"name": "Another book"}}),
    Row("GET",    "/v1/books/{book}",                 book_member(200)),
    Row("PATCH",  "/v1/books/{book}",                 book_admin(200),    {"json": {"external_sharing": True}}),
    Row("GET",    "/v1/books/{book}/members",         book_member(200)),
    Row("POST",   "/v1/books/{book}/members",         book_admin(201),    _invite),
    Row("PATCH",  "/v1/books/{book}/members/{user}",  book_admin(200),    {"json": {"role": "member"}}),
    Row("DELETE", "/v1/books/{book}/members/{user}",  book_admin(204),    fresh=True),
    Row("GET",    "/v1/books/{book}/chapters",        book_member(200)),
    Row("POST",   "/v1/books/{book}/chapters",        book_member(201),   {"json": {"title": "Mine"}}),
    # chat and the book's LLM (ahead of the chapter deletions, whose cancelled folds can stall the read models)
    Row("GET",    "/v1/chapters/{chapter}/threads",   chapter(200)),
    Row("POST",   "/v1/chapters/{chapter}/threads",   chapter(201),       {"json": {"title": "Matrix"}}),
    Row("GET",    "/v1/chapters/{chapter}/threads/{thread}/messages", chapter(200), params={"thread": _thread}),
    Row("POST",   "/v1/chapters/{chapter}/threads/{thread}/messages", chapter(200), {"json": {"text": "Who sees this?"}}, params={"thread": _thread}),
    Row("POST",   "/v1/chapters/{chapter}/ask",       chapter(200),       {"json": {"question": "Who sees this?"}}),
    Row("GET",    "/v1/books/{book}/llm",             book_member(200)),
    Row("PUT",    "/v1/books/{book}/llm",             book_admin(200),    {"json": {"kind": "extractive"}}),
    Row("DELETE", "/v1/books/{book}/llm",             book_admin(200)),
    Row("GET",    "/v1/books/{book}/rerank",          book_member(200)),
    Row("PUT",    "/v1/books/{book}/rerank",          book_admin(200),    {"json": {"kind": "none"}}),
    Row("DELETE", "/v1/books/{book}/rerank",          book_admin(200)),
    Row("GET",    "/v1/books/{book}/retrieval",       book_member(200)),
    Row("PUT",    "/v1/books/{book}/retrieval",       book_admin(200),    {"json": {"mode": "hybrid"}}),
    Row("DELETE", "/v1/books/{book}/retrieval",       book_admin(200)),
    # chapters
    Row("GET",    "/v1/chapters/{chapter}",           chapter(200)),
    Row("PATCH",  "/v1/chapters/{chapter}",           chapter(200),       {"json": {"title": "Renamed"}}, label="rename"),
    Row("PATCH",  "/v1/chapters/{chapter}",           chapter_admin(200), _to_admin, fresh=True, label="reassign"),
    Row("DELETE", "/v1/chapters/{chapter}",           chapter(204),       fresh=True),
    Row("POST",   "/v1/chapters/{chapter}/migrate",   chapter(201),       fresh=True),
    # audit
    Row("GET",    "/v1/chapters/{chapter}/events",    chapter(200)),
    Row("GET",    "/v1/chapters/{chapter}/state",     chapter(200),       {"params": {"rev": 1}}),
    Row("GET",    "/v1/chapters/{chapter}/verify",    chapter(200)),
    # a chapter that is no copy has no manifest: 404 to those who may read it, as to the rest
    Row("GET",    "/v1/chapters/{chapter}/manifest",  chapter(404)),
    Row("GET",    "/v1/chapters/{chapter}/proof",     chapter(200),       {"params": {"rev": 1}}),
    Row("GET",    "/v1/chapters/{chapter}/proof",     chapter(200),       {"params": {"from": 1}}, label="consistency"),
    Row("GET",    "/v1/chapters/{chapter}/history",   chapter(200)),
    Row("GET",    "/v1/chapters/{chapter}/changes",   chapter(200),       {"params": {"follow": "false"}}),
    Row("GET",    "/v1/chapters/{chapter}/diff",      chapter(200),       {"params": {"from": 0, "to": 1}}),
    Row("GET",    "/v1/chapters/{chapter}/threads/{thread}/messages/{message}/provenance", chapter(200), params={"thread": _thread, "message": _answer}),
    # signed heads and book keys
    Row("POST",   "/v1/chapters/{chapter}/heads",     chapter_admin(201)),
    Row("GET",    "/v1/books/{book}/keys",            book_member(200)),
    Row("POST",   "/v1/books/{book}/keys",            book_admin(201)),
    # archives
    Row("GET",    "/v1/chapters/{chapter}/export",    chapter(200)),
    Row("POST",   "/v1/books/{book}/imports",         book_member(201),   _archive),
    # sources and search
    Row("GET",    "/v1/chapters/{chapter}/sources",                chapter(200)),
    Row("POST",   "/v1/chapters/{chapter}/sources",                chapter(201), {"files": {"file": ("matrix.txt", b"Who may add what.", "text/plain")}}),
    Row("GET",    "/v1/chapters/{chapter}/sources/{source}",       chapter(200)),
    Row("GET",    "/v1/chapters/{chapter}/sources/{source}/text",  chapter(200), params={"source": _extracted_source}),
    Row("GET",    "/v1/chapters/{chapter}/sources/{source}/file",  chapter(200)),
    Row("PATCH",  "/v1/chapters/{chapter}/sources/{source}",       chapter(200), {"json": {"tags": ["matrix"]}}),
    Row("DELETE", "/v1/chapters/{chapter}/sources/{source}",       chapter(204), fresh=True),
    Row("POST",   "/v1/chapters/{chapter}/sources/{source}/erase", chapter_admin(200), fresh=True),
    Row("POST",   "/v1/chapters/{chapter}/search",                 chapter(200), {"json": {"query": "who may see what"}}),
    # connectors: configured and synced by those who may write the chapter
    Row("POST",   "/v1/chapters/{chapter}/connectors",             chapter(201), {"json": {"kind": "zotero_dir"}}),
    Row("GET",    "/v1/chapters/{chapter}/connectors",             chapter(200)),
    Row("GET",    "/v1/chapters/{chapter}/connectors/{connector}", chapter(200), params={"connector": _connector}),
    Row("POST",   "/v1/chapters/{chapter}/connectors/{connector}/sync", chapter(422), params={"connector": _connector}),
    Row("GET",    "/v1/chapters/{chapter}/connectors/{connector}/items", chapter(200), params={"connector": _connector}),
    Row("POST",   "/v1/chapters/{chapter}/connectors/{connector}/items", chapter(200), _NO_CHANGES, params={"connector": _connector}),
    Row("DELETE", "/v1/chapters/{chapter}/connectors/{connector}", chapter(204), fresh=True, params={"connector": _connector}),
    # OAuth connectors: the operator set up no provider here, so starting one is a clear 409
    Row("GET",    "/v1/connectors/oauth/providers",                signed_in(200)),
    Row("POST",   "/v1/chapters/{chapter}/connectors/oauth/{provider}/start",  chapter(409), {"json": {}}, params={"provider": _google}),
    Row("POST",   "/v1/chapters/{chapter}/connectors/oauth/{provider}/device", chapter(409), {"json": {}}, params={"provider": _microsoft}),
    Row("POST",   "/v1/chapters/{chapter}/connectors/oauth/flows/{flow}/poll", chapter(404), params={"flow": _no_flow}),
    Row("GET",    "/v1/connectors/oauth/callback",                 public(303)),
    # shares: granted by those who manage the chapter; a token's routes take the token, not a person
    Row("GET",    "/v1/chapters/{chapter}/shares",                 chapter(200)),
    Row("POST",   "/v1/chapters/{chapter}/shares",                 chapter(201), {"json": {"mode": "proxied", "grantee": "guest@example.org"}}),
    Row("DELETE", "/v1/chapters/{chapter}/shares/{share}",         chapter(204), fresh=True, params={"share": _share}),
    Row("POST",   "/v1/shares/{token}/connect",                    public(200),  params={"token": _share_token}),
    Row("POST",   "/v1/shares/{token}/accept",                     signed_in(403), {"json": {}}, params={"token": _share_token}),
    Row("GET",    "/v1/shares/sources",                            public(401)),
    Row("GET",    "/v1/shares/snapshot",                           public(401)),
    Row("POST",   "/v1/shares/sources",                            public(401)),
    Row("PATCH",  "/v1/shares/sources/{source}",                   public(401), {"json": {"tags": ["x"]}}, params={"source": _no_source}),
    Row("DELETE", "/v1/shares/sources/{source}",                   public(401), params={"source": _no_source}),
    Row("POST",   "/v1/shares/ask",                                public(401),  {"json": {"question": "Who sees this?"}}),
    Row("GET",    "/v1/shares/feed",                               public(401)),
    Row("GET",    "/v1/shares/blobs/{hash}",                       public(401), params={"hash": _no_blob}),
    # the operator's routes: no operator is configured here, so they exist for no one
    Row("PUT",    "/v1/admin/books/{book}/plan",                   signed_in(404), {"json": {"plan": "paid"}}),
]
# fmt: on
"""One row per route (several where a route's body decides who may call it)."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory, local_embedder) -> AsyncIterator[World]:
    passwords = fast_passwords()
    clock = ManualClock()
    # Rate limits off: the matrix sends hundreds of requests from one address.
    settings = Settings(
        data_dir=Path(tmp_path_factory.mktemp("isolation")) / "data",
        limits=Limits(requests_per_minute_token=0, requests_per_minute_address=0),
    )
    services = await open_services(
        settings, passwords=passwords, clock=clock, embedder=local_embedder
    )
    app = create_app(services)
    transport = httpx.ASGITransport(app, client=("127.0.0.1", 50000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://ragstack.test") as c:
            people = {
                role: await sign_up_person(c, f"{role}@example.org", role.title())
                for role in ("owner", "admin", "member", "member2", "removed", "stranger")
            }
            owner = people["owner"]
            # The owner makes a team book and adds everyone but the stranger.
            made = await c.post("/v1/books", json={"name": "Team"}, headers=owner.headers)
            assert made.status_code == 201, made.text
            book = made.json()["id"]
            for role in ("admin", "member", "member2", "removed"):
                added = await c.post(
                    f"/v1/books/{book}/members",
                    json={
                        "email": people[role].email,
                        "role": "admin" if role == "admin" else "member",
                    },
                    headers=owner.headers,
                )
                assert added.status_code == 201, added.text
            # Each member makes a chapter of their own.
            chapters = {}
            for role in ("member", "member2", "removed"):
                created = await c.post(
                    f"/v1/books/{book}/chapters",
                    json={"title": f"{role}'s chapter"},
                    headers=people[role].headers,
                )
                assert created.status_code == 201, created.text
                chapters[role] = created.json()["id"]
            # One member is removed; their chapter goes to the owner.
            gone = await c.delete(
                f"/v1/books/{book}/members/{people['removed'].id}", headers=owner.headers
            )
            assert gone.status_code == 204, gone.text
            # A token of the owner's that lived a minute, two minutes ago.
            expired, _ = await services.accounts.issue_token(owner.id, name="short", ttl_s=60)
            clock.advance(120)
            yield World(
                app=app,
                client=c,
                services=services,
                owner=owner,
                admin=people["admin"],
                member=people["member"],
                member2=people["member2"],
                removed=people["removed"],
                stranger=people["stranger"],
                expired_token=expired,
                book=book,
                member_chapter=chapters["member"],
                member2_chapter=chapters["member2"],
                removed_chapter=chapters["removed"],
            )
    finally:
        await services.close()
        passwords.close()


def _v1_routes(world: World) -> set[tuple[str, str]]:
    # Included routers are walked through their contexts (FastAPI mounts them lazily).
    return {
        (method, context.path_format)
        for context in iter_route_contexts(world.app.routes)
        if isinstance(context.original_route, APIRoute)
        and (context.path_format or "").startswith("/v1/")
        for method in (context.methods or set()) - {"HEAD"}
    }


EXEMPT = {("DELETE", "/v1/me")}
"""Routes no shared actor of the matrix can be called on: erasing oneself ends the actor (who may
erase, and the 409 of a sole owner, are tests/gateway/test_gateway_erasure.py's)."""


async def test_every_v1_route_has_a_row(world):
    served = _v1_routes(world) - EXEMPT
    covered = {(row.method, row.path) for row in ROWS}
    missing = sorted(served - covered)
    assert not missing, (
        "these /v1 routes have no row in the isolation matrix; add one to ROWS in "
        f"tests/gateway/test_gateway_isolation.py: {missing}"
    )
    stale = sorted(covered - served)
    assert not stale, f"rows for routes the app does not serve: {stale}"


async def test_every_row_says_what_every_actor_gets():
    for row in ROWS:
        assert set(row.expect) == set(ACTORS), str(row)


async def test_the_world_is_as_described(world):
    # The removed member's chapter went to the owner, and the removed member is out.
    headers = world.owner.headers
    moved = await world.client.get(f"/v1/chapters/{world.removed_chapter}", headers=headers)
    assert moved.json()["assignee"] == world.owner.id
    members = await world.client.get(f"/v1/books/{world.book}/members", headers=headers)
    ids = {m["user"] for m in members.json()["members"]}
    assert {world.owner.id, world.admin.id, world.member.id, world.member2.id} <= ids
    assert world.removed.id not in ids and world.stranger.id not in ids


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("row", ROWS, ids=str)
async def test_isolation(world: World, row: Row, actor: str):
    response = await world.call(row, actor)
    expected = row.expect[actor]
    assert response.status_code == expected, (
        f"{row} as {actor}: expected {expected}, got {response.status_code}: {response.text[:300]}"
    )
    if expected >= 400:
        # Refusals are the error shape, and a 404 tells nothing about what was asked for.
        body = response.json()
        assert set(body) == {"error"}, body
        if expected == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")
        if expected == 404 and "{chapter}" in row.path:
            assert "chapter" in body["error"]["message"]
            assert "'s chapter" not in response.text  # no title leaks


@pytest.mark.parametrize("actor", ["owner", "member_own"])
@pytest.mark.parametrize("row", crossed_rows(ROWS), ids=str)
async def test_a_thing_of_another_chapter_is_404_under_a_chapter_you_may_see(
    world: World, row: Row, actor: str
):
    # The member's own chapter in the path, a source or thread of another member's chapter
    # after it: seeing the first must not open the second, not even to the owner.
    response = await world.call(row, actor, crossed=True)
    assert response.status_code == 404, (
        f"{row} crossed, as {actor}: expected 404, got {response.status_code}: "
        f"{response.text[:300]}"
    )
    assert set(response.json()) == {"error"}
