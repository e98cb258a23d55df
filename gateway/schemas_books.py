"""Public shapes of books, members and chapters (gateway/routes/books.py, gateway/routes/chapters.py).

Requests forbid unknown fields, so a misspelt key is a 422 rather than a silently ignored wish.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from events import Role
from gateway.schemas import Email

__all__ = [
    "BookCreate",
    "BookList",
    "BookPublic",
    "BookUpdate",
    "ChapterCreate",
    "ChapterList",
    "ChapterPublic",
    "ChapterUpdate",
    "MemberCreate",
    "MemberCreated",
    "MemberList",
    "MemberPublic",
    "MemberUpdate",
]

_Name = Annotated[str, Field(min_length=1, max_length=200)]
_UserId = Annotated[str, Field(min_length=1, max_length=400)]


class _Request(BaseModel):
    # strict: a JSON value of the wrong type is refused, never coerced (the document's types hold)
    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid", strict=True)


class _Public(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)


# --- books ---


class BookCreate(_Request):
    """A new book; the caller becomes its owner."""

    name: _Name
    """The book's name ("Acme research", "My notes")."""


class BookUpdate(_Request):
    """A change to a book's policy (owner and admins)."""

    external_sharing: bool | None = None
    """Whether chapters may be shared with people outside the book; null leaves it as it is."""


class BookPublic(_Public):
    """A book as one of its members sees it."""

    id: str
    """The book's id (a ULID)."""
    name: str
    role: Role
    """The caller's role in the book."""
    owner: str
    """The owner's user id."""
    external_sharing: bool
    """Whether chapters may be shared outside the book."""
    chapters: int
    """How many chapters the caller sees (all of them for the owner and admins)."""
    members: int
    """How many members the book has, pending invitations included."""
    plan: Literal["free", "paid"] = "free"
    """The book's plan, set by the server's operator: a paid book's proxied shares tick every
    minute, a free one's every ten."""


class BookList(_Public):
    """The caller's books, by name."""

    books: list[BookPublic]


# --- members ---


class MemberCreate(_Request):
    """Add someone to the book by e-mail (owner and admins)."""

    email: Email
    """Their e-mail address. Someone without an account yet is invited: they join when they
    sign up or sign in with this address."""
    role: Role = "member"
    """admin or member (ownership is transferred by changing a member's role to owner)."""


class MemberUpdate(_Request):
    """A member's new role (admins; only the owner may hand over ownership)."""

    role: Role


class MemberPublic(_Public):
    """A member of a book, or someone invited by e-mail who has not signed in yet."""

    user: str
    """The member's user id; `email:<address>` while the invitation is pending (use it to
    withdraw the invitation with DELETE)."""
    email: str
    role: Role
    pending: bool
    """True for an invitation nobody has claimed yet."""


class MemberCreated(MemberPublic):
    """The member just added."""

    invited: bool
    """True when no account has this address yet: the invitation waits for them to sign up."""
    email_sent: bool = False
    """Always false: this server sends no e-mail; tell the person yourself."""


class MemberList(_Public):
    """A book's members: owner first, then admins, then members."""

    members: list[MemberPublic]


# --- chapters ---


class ChapterCreate(_Request):
    """A new chapter in a book."""

    title: Annotated[str, Field(max_length=200)] = "Untitled"
    assignee: _UserId | None = None
    """The member it belongs to; default the caller. Only owner and admins may assign to others."""


class ChapterUpdate(_Request):
    """Rename a chapter (its assignee and admins) or reassign it (owner and admins)."""

    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    assignee: _UserId | None = None


class ChapterPublic(_Public):
    """A chapter."""

    id: str
    """The chapter's id (a ULID)."""
    book: str
    """The book it belongs to."""
    title: str
    assignee: str
    """User id of the member it is assigned to."""
    rev: int | None = None
    """Its log's head revision (in single-chapter answers; null in lists)."""
    sources: int | None = None
    """How many sources it holds, removed ones not counted (single-chapter answers)."""
    forked_from: str | None = None
    """The chapter this one was copied from, if it is a copy."""
    share: str | None = None
    """For a chapter someone shared with its book (a copy or a live mirror): the share."""


class ChapterList(_Public):
    """Chapters the caller may see."""

    chapters: list[ChapterPublic]
