"""Events of a book log (stream `RS_BK_<book>`): the organisation, its members and chapters."""

from typing import Literal

from events.chapter import Event

Role = Literal["owner", "admin", "member"]


class BookCreated(Event, frozen=True, kw_only=True, tag="BookCreated"):
    """The book exists; the creator is its owner."""

    name: str
    """Human name."""
    owner: str
    """User id of the owner."""
    owner_email: str = ""
    """The owner's e-mail at creation."""
    sealed: str | None = None
    """BLAKE3 hex of this event's personal blob (events/personal.py); None: nothing sealed."""


class MemberAdded(Event, frozen=True, kw_only=True, tag="MemberAdded"):
    """Someone joined the book."""

    user: str
    """User id, or until the invitee signs up an invitation key (`email:` and a random id; in
    books written before sealing, `email:` and the address)."""
    email: str
    """E-mail the invitation went to."""
    role: Role = "member"
    """Role in the book."""
    sealed: str | None = None
    """BLAKE3 hex of this event's personal blob (events/personal.py); None: nothing sealed."""


class MemberRemoved(Event, frozen=True, kw_only=True, tag="MemberRemoved"):
    """Someone left the book."""

    user: str
    """User id."""


class RoleChanged(Event, frozen=True, kw_only=True, tag="RoleChanged"):
    """A member's role changed."""

    user: str
    """User id."""
    role: Role
    """New role."""


class ChapterRegistered(Event, frozen=True, kw_only=True, tag="ChapterRegistered"):
    """A chapter was created in (or copied into) the book."""

    chapter: str
    """Chapter id."""
    assignee: str
    """User id of the member the chapter belongs to."""
    title: str = ""
    """Title at creation."""
    share: str | None = None
    """For a mirror or a copy of a shared chapter: the share it came from."""
    sealed: str | None = None
    """BLAKE3 hex of this event's personal blob (events/personal.py); None: nothing sealed."""


class ChapterReassigned(Event, frozen=True, kw_only=True, tag="ChapterReassigned"):
    """A chapter moved to another member."""

    chapter: str
    """Chapter id."""
    assignee: str
    """New assignee's user id."""


class ChapterDeleted(Event, frozen=True, kw_only=True, tag="ChapterDeleted"):
    """A chapter left the book (its stream is kept for audit)."""

    chapter: str
    """Chapter id."""


class PolicyChanged(Event, frozen=True, kw_only=True, tag="PolicyChanged"):
    """The book's sharing policy changed."""

    external_sharing: bool
    """Whether chapters may be shared outside the book."""


Plan = Literal["free", "paid"]


class PlanChanged(Event, frozen=True, kw_only=True, tag="PlanChanged"):
    """The server's operator put the book on another plan (free by default)."""

    plan: Plan
    """free or paid: a paid book's proxied shares tick every minute, a free one's every ten."""


class BookKeyAdded(Event, frozen=True, kw_only=True, tag="BookKeyAdded"):
    """The book's first signing key: the trust anchor of every head its chapters sign.

    Announced once; a later key comes only by `BookKeyRotated` (events/keys.py checks both)."""

    key: str
    """Hex Ed25519 public key (32 bytes)."""


class BookKeyRotated(Event, frozen=True, kw_only=True, tag="BookKeyRotated"):
    """The book's signing key was replaced; the old key vouches for the new one."""

    old: str
    """Hex public key being retired (the current key until this event)."""
    new: str
    """Hex public key that signs from this event on."""
    signature: str
    """Hex Ed25519 signature by `old` over `ragstack.key.v1|<book>|<old>|<new>`."""


BookEvent = (
    BookCreated
    | MemberAdded
    | MemberRemoved
    | RoleChanged
    | ChapterRegistered
    | ChapterReassigned
    | ChapterDeleted
    | PolicyChanged
    | PlanChanged
    | BookKeyAdded
    | BookKeyRotated
)
