"""Public shapes of the share routes (gateway/routes/shares.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas import Email, WholeFloatsAsInt

__all__ = [
    "NatsPublic",
    "ShareAccept",
    "ShareConnection",
    "ShareCreate",
    "ShareCreated",
    "ShareList",
    "SharePublic",
]

Mode = Literal["copy", "proxied", "direct"]
PermissionName = Literal["add", "remove", "edit", "prompt_passthrough"]
ScopeName = Literal["sources", "notes", "threads"]


class _Request(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid", strict=True)


class _Public(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True, from_attributes=True)


class ShareCreate(_Request):
    """A new share of the chapter."""

    mode: Mode
    """copy (a snapshot), proxied (live, refreshed every minute on paid plans, every ten on
    free) or direct (live over NATS, in milliseconds)."""
    grantee: Email
    """Who it is for: an e-mail address (someone outside the book only if the book allows it)."""
    permissions: Annotated[list[PermissionName], Field(max_length=4)] = []
    """What the guest may do besides reading."""
    scope: Annotated[list[ScopeName], Field(min_length=1, max_length=3)] | None = None
    """What is shared; null: sources and notes (chat threads only when asked for)."""
    expires_at: Annotated[int, Field(ge=0, le=2**53), WholeFloatsAsInt] | None = None
    """Unix ms after which the share opens nothing; null: until revoked."""


class SharePublic(_Public):
    """A share in force."""

    id: str
    chapter: str
    mode: str
    grantee: str
    permissions: list[str]
    scope: list[str]
    granted_rev: int
    """The rev of its `ShareGranted` in the chapter's log."""
    expires_at: int | None = None


class ShareCreated(SharePublic):
    """A new share, with its token: shown this once, give it to the guest."""

    token: str
    """Opens the share: `POST /v1/shares/{token}/accept` on the guest's server, or
    `ragstack follow TOKEN`. Keep it secret; revoke the share if it leaks."""
    rev: int
    """The chapter's rev after the grant."""
    interval_s: int | None = None
    """A proxied share's tick when granted (it follows the book's plan)."""


class ShareList(_Public):
    """A chapter's shares in force, in the order granted."""

    shares: list[SharePublic]


class NatsPublic(_Public):
    """Credentials of a direct share, issued to the guest."""

    url: str
    user: str
    password: str
    inbox_prefix: str
    """Connect with this inbox prefix: replies can reach the guest nowhere else."""
    certificate: str | None = None
    """With TLS (`tls://`), the owner's server certificate (PEM) to trust besides the system's
    authorities."""


class ShareConnection(_Public):
    """What a guest's server needs to follow a share."""

    share: str
    chapter: str
    title: str
    mode: str
    permissions: list[str]
    scope: list[str]
    interval_s: int | None = None
    rev: int
    """The chapter's head now."""
    head: str
    """Hex chain hash at `rev`."""
    stream: str | None = None
    subject: str | None = None
    """Direct shares: where the chapter's events are stored (guests may not listen there)."""
    live_subject: str | None = None
    """Direct shares: where each stored event is republished, with its `Nats-Sequence` (the
    rev) and `Rs-Hash`; a guest follows this subject and catches up with Direct Get."""
    nats: NatsPublic | None = None


class ShareAccept(_Request):
    """Accept a share into one of the caller's books."""

    book: Annotated[str, Field(max_length=64)] | None = None
    """The book to put the shared chapter in; null: the caller's first book."""
    from_: str | None = Field(
        default=None, alias="from", min_length=10, max_length=2000, pattern=r"^https?://[^\s/?#@]+"
    )
    """The owner's server (its URL) when it is not this one."""
