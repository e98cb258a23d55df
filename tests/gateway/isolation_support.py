"""The isolation matrix's machinery: a world of actors, expectation profiles, path resolvers.

The world is one book with an owner, an admin and two members (each with a chapter), a member who
was removed (their chapter went to the owner), a stranger (signed up, with a book of their own),
plus two ways of not being anyone: no token, and an expired one. Each row of the table in
test_gateway_isolation.py names a route and, per actor, the one status it must answer.

Adding a route: add a `Row` to `ROWS` there, with a profile from here (`chapter(200)`,
`book_admin(204)`, …). A new path parameter needs a resolver in `PARAMS` below: an async function
(world, actor, params-so-far, fresh) → the value to put in the path.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from app.services import Services
from engine.sources import add_source

__all__ = [
    "ACTORS",
    "PARAMS",
    "PASSWORD",
    "Person",
    "Row",
    "World",
    "book_admin",
    "book_member",
    "chapter",
    "chapter_admin",
    "crossed_rows",
    "member_owned",
    "public",
    "sign_up_person",
    "signed_in",
    "unique",
]

PASSWORD = "correct horse battery"

ACTORS = (
    "owner",
    "admin",
    "member_own",  # a member, acting on their own chapter
    "member_other",  # the same member, acting on another member's chapter
    "removed",  # a former member, acting on the chapter that was theirs
    "stranger",  # signed up, not in the book
    "no_token",
    "expired",  # the owner's token, past its lifetime
)
"""Who calls, in the matrix."""

_PEOPLE = ACTORS[:6]
_ANONYMOUS = {"no_token": 401, "expired": 401}


# --- expectation profiles: actor -> status ---


def public(ok: int) -> dict[str, int]:
    """A route that needs no token: everyone gets `ok`."""
    return dict.fromkeys(ACTORS, ok)


def signed_in(ok: int) -> dict[str, int]:
    """Anyone with a valid token gets `ok` (the route acts on the caller's own things)."""
    return dict.fromkeys(_PEOPLE, ok) | _ANONYMOUS


def book_member(ok: int) -> dict[str, int]:
    """Members of the book (any role) get `ok`; outsiders 404: the book does not exist for them."""
    return {
        "owner": ok,
        "admin": ok,
        "member_own": ok,
        "member_other": ok,
        "removed": 404,
        "stranger": 404,
    } | _ANONYMOUS


def book_admin(ok: int) -> dict[str, int]:
    """Owner and admins get `ok`; members 403; outsiders 404."""
    return book_member(ok) | {"member_own": 403, "member_other": 403}


def chapter(ok: int) -> dict[str, int]:
    """Owner, admins and the chapter's assignee get `ok`; everyone else 404."""
    return {
        "owner": ok,
        "admin": ok,
        "member_own": ok,
        "member_other": 404,
        "removed": 404,
        "stranger": 404,
    } | _ANONYMOUS


def chapter_admin(ok: int) -> dict[str, int]:
    """Owner and admins get `ok`; the assignee may see the chapter but not do this (403)."""
    return chapter(ok) | {"member_own": 403}


def member_owned(ok: int) -> dict[str, int]:
    """A thing of the member's own (an API token): only they get `ok`, others 404."""
    return dict.fromkeys(_PEOPLE, 404) | {"member_own": ok, "member_other": ok} | _ANONYMOUS


# --- the world ---


@dataclass(frozen=True)
class Person:
    """A signed-up user and their token."""

    id: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


_counter = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other request in this run has used."""
    return f"{prefix}{next(_counter)}"


async def sign_up_person(client: httpx.AsyncClient, email: str, name: str = "") -> Person:
    """Sign up over HTTP; the person with their session token."""
    response = await client.post(
        "/v1/auth/signup", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Person(id=body["user"]["id"], email=body["user"]["email"], token=body["token"])


@dataclass
class World:
    """One book and everyone around it; see the module docstring."""

    app: FastAPI
    client: httpx.AsyncClient
    services: Services
    owner: Person
    admin: Person
    member: Person
    member2: Person
    removed: Person
    stranger: Person
    expired_token: str
    book: str
    member_chapter: str
    member2_chapter: str
    removed_chapter: str
    """The removed member's chapter, which went to the owner."""
    cache: dict[tuple[str, ...], str] = field(default_factory=dict)

    def person(self, actor: str) -> Person:
        """Who acts (for no_token and expired: whose resources are aimed at)."""
        return {
            "owner": self.owner,
            "admin": self.admin,
            "member_own": self.member,
            "member_other": self.member,
            "removed": self.removed,
            "stranger": self.stranger,
        }.get(actor, self.owner)

    def headers(self, actor: str) -> dict[str, str]:
        if actor == "no_token":
            return {}
        if actor == "expired":
            return {"Authorization": f"Bearer {self.expired_token}"}
        return self.person(actor).headers

    def assignee_for(self, actor: str) -> str:
        """Whose chapter `actor` aims at."""
        if actor == "member_other":
            return self.member2.id
        if actor == "removed":
            return self.owner.id
        return self.member.id

    def chapter_for(self, actor: str) -> str:
        """The standing chapter `actor` aims at (see ACTORS)."""
        if actor == "member_other":
            return self.member2_chapter
        if actor == "removed":
            return self.removed_chapter
        return self.member_chapter

    async def new_chapter(self, assignee: str) -> str:
        """A fresh chapter in the book, for a request that deletes or consumes it."""
        entry = await self.services.books.create_chapter(
            self.owner.id, self.book, unique("Fresh "), assignee
        )
        return entry.id

    async def new_source(self, chapter_id: str) -> str:
        """A small text source in `chapter_id`, added through the engine as the owner."""
        added = await add_source(
            self.services.logs.chapter(chapter_id),
            self.services.blobs,
            actor=self.owner.id,
            name=unique("note-") + ".txt",
            data=b"The matrix checks who may see what.\n",
            media_type="text/plain",
        )
        return added.source

    async def new_member(self) -> str:
        """A fresh account added to the book as a member; their user id."""
        user = await self.services.accounts.create_user(unique("extra") + "@example.org", PASSWORD)
        await self.services.books.add_member(
            self.owner.id, self.book, user.email, "member", user.id
        )
        return user.id

    async def resolve(self, path: str, actor: str, row: Row, *, crossed: bool = False) -> str:
        """`path` with its `{parameters}` filled for `actor`, in order of appearance.

        `crossed`: everything under `{chapter}` (a source, a thread) is taken from another
        member's chapter, while `{chapter}` itself is the member's own (see `crossed_rows`).
        """
        values: dict[str, str] = {}
        for name in _param_names(path):
            resolver = row.params.get(name) or PARAMS.get(name)
            if resolver is None:
                raise AssertionError(
                    f"no resolver for {{{name}}} in {path}: add one to "
                    "isolation_support.PARAMS or to the row's params"
                )
            values[name] = await resolver(
                self, "member_other" if crossed else actor, values, row.fresh
            )
        if crossed:
            values["chapter"] = self.member_chapter
        return path.format(**values)

    async def call(self, row: Row, actor: str, *, crossed: bool = False) -> httpx.Response:
        """Make `row`'s request as `actor` (`crossed`: see `resolve`)."""
        url = await self.resolve(row.path, actor, row, crossed=crossed)
        kwargs: dict[str, Any] = dict(
            row.kwargs(self, actor) if callable(row.kwargs) else row.kwargs
        )
        headers = {**kwargs.pop("headers", {}), **self.headers(actor)}
        response = await self.client.request(row.method, url, headers=headers, **kwargs)
        self.client.cookies.clear()  # actors are who their header says: no session carries over
        return response


def crossed_rows(rows: list[Row]) -> list[Row]:
    """Rows whose path names a thing inside a chapter (`…/{chapter}/…/{source}`): the things that
    could be reached through a chapter they do not belong to."""
    return [
        row
        for row in rows
        if "{chapter}" in row.path and _param_names(row.path)[-1] not in _NOT_A_THING
    ]


_NOT_A_THING = {"chapter", "provider"}
"""Last path parameters that name no thing inside a chapter (an OAuth provider is a service)."""


def _param_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


Resolver = Callable[[World, str, dict[str, str], bool], Awaitable[str]]
"""(world, actor, parameters resolved so far, fresh) -> the parameter's value."""


async def _book(world: World, actor: str, values: dict[str, str], fresh: bool) -> str:
    return world.book


async def _chapter(world: World, actor: str, values: dict[str, str], fresh: bool) -> str:
    if fresh:
        return await world.new_chapter(world.assignee_for(actor))
    return world.chapter_for(actor)


async def _member(world: World, actor: str, values: dict[str, str], fresh: bool) -> str:
    # Members act on someone else here (leaving the book is tested in test_gateway_books).
    if fresh:
        return await world.new_member()
    return world.member2.id


async def _source(world: World, actor: str, values: dict[str, str], fresh: bool) -> str:
    chapter_id = values["chapter"]
    key = ("source", chapter_id)
    if fresh or key not in world.cache:
        world.cache[key] = await world.new_source(chapter_id)
    return world.cache[key]


async def _member_token(world: World, actor: str, values: dict[str, str], fresh: bool) -> str:
    # Always one of the member's tokens: only the member may revoke it.
    _, info = await world.services.accounts.issue_token(world.member.id, name=unique("matrix"))
    return info.id


PARAMS: dict[str, Resolver] = {
    "book": _book,
    "chapter": _chapter,
    "user": _member,
    "source": _source,
    "token_id": _member_token,
}
"""Default resolver per path parameter name."""

Kwargs = Mapping[str, Any] | Callable[[World, str], Mapping[str, Any]]


@dataclass(frozen=True)
class Row:
    """One route (method and path template as FastAPI knows it) and its expected statuses."""

    method: str
    path: str
    expect: Mapping[str, int]
    kwargs: Kwargs = field(default_factory=dict)
    """Extra request arguments (json=…, files=…, params=…), or a function of (world, actor)."""
    fresh: bool = False
    """Resolve the path's resources anew for each request (for routes that delete or use them up)."""
    params: Mapping[str, Resolver] = field(default_factory=dict)
    """Resolvers for this row only, by parameter name."""
    label: str = ""
    """Tells apart several rows for one route (e.g. rename vs reassign)."""

    def __str__(self) -> str:
        return f"{self.method} {self.path}" + (f" [{self.label}]" if self.label else "")
