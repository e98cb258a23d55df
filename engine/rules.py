"""Who may do what in a book: the book's state folded from its log, and the rules over it.

Owner and admins see and manage every chapter of the book (the admin view); a member sees and
changes only the chapters assigned to them; anyone else sees nothing. A solo user is the owner of a
book of one and never meets any of this. Commands (engine/books.py) check these rules before they
append; the gateway only maps the errors to HTTP statuses.
"""

from dataclasses import dataclass, field
from typing import Literal

from engine.errors import EngineError
from events import (
    BookCreated,
    ChapterDeleted,
    ChapterReassigned,
    ChapterRegistered,
    Envelope,
    MemberAdded,
    MemberRemoved,
    Plan,
    PlanChanged,
    PolicyChanged,
    Role,
    RoleChanged,
)

Action = Literal["read", "write", "manage"]
"""read: see it; write: change its content; manage: rename, reassign, delete, share."""


class Forbidden(EngineError):
    """The actor is known but may not do this (HTTP 403)."""


class NotFound(EngineError):
    """There is no such thing, or the actor may not know it exists (HTTP 404)."""


class Conflict(EngineError):
    """The request contradicts the current state (HTTP 409)."""


class Invalid(EngineError, ValueError):
    """A command's input is unusable: an empty name, too many tags (HTTP 422)."""


@dataclass
class Member:
    """A member of a book."""

    user: str
    email: str
    role: Role


@dataclass
class ChapterEntry:
    """A chapter registered in a book."""

    id: str
    assignee: str
    title: str
    share: str | None = None
    """For a mirror or copy of someone else's chapter: the share it came from."""


@dataclass
class BookState:
    """A book as its log says it is at `rev`."""

    id: str
    name: str = ""
    owner: str = ""
    rev: int = 0
    external_sharing: bool = True
    plan: Plan = "free"
    members: dict[str, Member] = field(default_factory=dict)
    chapters: dict[str, ChapterEntry] = field(default_factory=dict)

    def apply(self, envelope: Envelope) -> None:
        """Fold one event of the book's log."""
        body = envelope.body
        if isinstance(body, BookCreated):
            self.name, self.owner = body.name, body.owner
        elif isinstance(body, MemberAdded):
            self.members[body.user] = Member(body.user, body.email.lower(), body.role)
        elif isinstance(body, MemberRemoved):
            self.members.pop(body.user, None)
        elif isinstance(body, RoleChanged):
            if body.user in self.members:
                self.members[body.user].role = body.role
            if body.role == "owner":
                self.owner = body.user
        elif isinstance(body, ChapterRegistered):
            self.chapters[body.chapter] = ChapterEntry(
                body.chapter, body.assignee, body.title, body.share
            )
        elif isinstance(body, ChapterReassigned):
            if body.chapter in self.chapters:
                self.chapters[body.chapter].assignee = body.assignee
        elif isinstance(body, ChapterDeleted):
            self.chapters.pop(body.chapter, None)
        elif isinstance(body, PolicyChanged):
            self.external_sharing = body.external_sharing
        elif isinstance(body, PlanChanged):
            self.plan = body.plan
        self.rev = envelope.rev

    # -- queries ------------------------------------------------------------------------------

    def role_of(self, user: str) -> Role | None:
        """The user's role, or None for a stranger or a removed member."""
        member = self.members.get(user)
        return member.role if member else None

    def is_admin(self, user: str) -> bool:
        """Owner or admin."""
        return self.role_of(user) in ("owner", "admin")

    def member_by_email(self, email: str) -> Member | None:
        """The member invited with `email`, if any."""
        email = email.lower()
        return next((m for m in self.members.values() if m.email == email), None)

    def visible_chapters(self, user: str) -> list[ChapterEntry]:
        """The chapters the user sees: all for owner and admins, their own for members."""
        if self.is_admin(user):
            return list(self.chapters.values())
        if self.role_of(user) is None:
            return []
        return [c for c in self.chapters.values() if c.assignee == user]

    # -- rules --------------------------------------------------------------------------------

    def require_member(self, user: str) -> Role:
        """The user's role; NotFound for anyone outside the book (its existence stays private)."""
        role = self.role_of(user)
        if role is None:
            raise NotFound("no such book")
        return role

    def require_admin(self, user: str) -> None:
        """Owner or admin, else Forbidden (NotFound for outsiders)."""
        if self.require_member(user) not in ("owner", "admin"):
            raise Forbidden("only the book's owner and admins may do this")

    def check_chapter(self, user: str, chapter: str, action: Action) -> ChapterEntry:
        """The chapter if `user` may `action` it.

        Outsiders and members looking at someone else's chapter get NotFound: a chapter they may
        not see does not exist for them. Managing (rename, reassign, delete, share) is for the
        assignee and admins.
        """
        entry = self.chapters.get(chapter)
        role = self.role_of(user)
        if entry is None or role is None:
            raise NotFound("no such chapter")
        if role in ("owner", "admin") or entry.assignee == user:
            return entry
        raise NotFound("no such chapter")

    def check_share(self, actor: str, actor_email: str, chapter: str, grantee: str) -> bool:
        """Rules for sharing `chapter` with the address `grantee`; True when it is someone
        outside the book. Sharing is managing: the assignee, the owner and admins may."""
        self.check_chapter(actor, chapter, "manage")
        if "@" not in grantee or grantee.startswith("@") or grantee.endswith("@"):
            raise Invalid(f"a share goes to an e-mail address, not {grantee!r}")
        if grantee == actor_email.strip().lower():
            raise Invalid("a chapter cannot be shared with yourself")
        external = self.member_by_email(grantee) is None
        if external and not self.external_sharing:
            raise Forbidden(
                "this book does not allow sharing outside it; its owner or an admin can allow it "
                "(PATCH /v1/books/{book} with external_sharing: true)"
            )
        return external

    def check_new_member(self, actor: str, email: str, role: Role) -> None:
        """Rules for inviting `email` as `role`."""
        self.require_admin(actor)
        if role == "owner":
            raise Forbidden("a book has one owner; transfer ownership instead")
        if self.member_by_email(email) is not None:
            raise Conflict(f"{email} is already a member of this book")

    def check_role_change(self, actor: str, user: str, role: Role) -> None:
        """Rules for changing `user`'s role: admins manage members, only the owner hands over."""
        self.require_admin(actor)
        if user not in self.members:
            raise NotFound("no such member")
        if user == self.owner or role == "owner":
            if actor != self.owner:
                raise Forbidden("only the owner may transfer ownership")
            if user == self.owner:
                raise Conflict("the owner stays owner until ownership is transferred")

    def check_removal(self, actor: str, user: str) -> None:
        """Rules for removing a member: admins may, anyone may leave, the owner never."""
        if user not in self.members:
            raise NotFound("no such member")
        if user == self.owner:
            raise Conflict("the owner cannot leave the book; transfer ownership first")
        if actor != user:
            self.require_admin(actor)

    def check_assignee(self, user: str) -> None:
        """A chapter may only be assigned to a current member."""
        if user not in self.members:
            raise Conflict("chapters can only be assigned to members of the book")

    def chapters_of(self, user: str) -> list[str]:
        """Chapters assigned to `user` (to reassign when they leave)."""
        return [c.id for c in self.chapters.values() if c.assignee == user]
