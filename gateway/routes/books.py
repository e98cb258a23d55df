"""Books over HTTP: a caller's books, their members and their chapters.

The rules live in engine/ (engine/rules.py, engine/books.py): a book exists only for its members
(anyone else gets 404), the owner and admins manage members, policy and every chapter, a member
sees their own chapters. Someone added by an e-mail address that has no account yet is a pending
member keyed `email:<address>` until their first authenticated request (gateway/deps.py), which
claims the invitation. No e-mail is sent.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from app import shares as app_shares
from engine.accounts.store import normalise_email
from engine.books import INVITE_PREFIX
from engine.rules import BookState, Member, NotFound
from gateway.deps import CurrentUser, ServicesDep
from gateway.errors import error_responses
from gateway.routes.chapters import chapter_public
from gateway.schemas_books import (
    BookCreate,
    BookList,
    BookPublic,
    BookUpdate,
    ChapterCreate,
    ChapterList,
    ChapterPublic,
    MemberCreate,
    MemberCreated,
    MemberList,
    MemberPublic,
    MemberUpdate,
)

__all__ = ["MemberBook", "book_public", "member_public", "router"]

# What a log id may look like (engine/nats.py); anything else cannot name a book.
_BOOK_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ROLE_ORDER = {"owner": 0, "admin": 1, "member": 2}

router = APIRouter(tags=["books"], responses=error_responses(401, 403))

_of_book = error_responses(404)
_admin = error_responses(404, 409)


async def get_member_book(
    services: ServicesDep,
    user: CurrentUser,
    book: Annotated[str, Path(max_length=64, description="The book's id.")],
) -> BookState:
    """The path's `{book}` if the caller is a member of it; 404 otherwise (whether or not it exists)."""
    if not _BOOK_ID.match(book):
        raise NotFound("no such book")
    state = await services.books.state(book)
    state.require_member(user.id)
    return state


MemberBook = Annotated[BookState, Depends(get_member_book)]
"""A book the caller is a member of (path parameter `book`)."""


def book_public(state: BookState, user: str) -> BookPublic:
    """A book as `user` sees it."""
    role = state.require_member(user)
    return BookPublic(
        id=state.id,
        name=state.name,
        role=role,
        owner=state.owner,
        external_sharing=state.external_sharing,
        chapters=len(state.visible_chapters(user)),
        members=len(state.members),
        plan=state.plan,
    )


def member_public(member: Member) -> MemberPublic:
    """A member, or a pending invitation."""
    return MemberPublic(
        user=member.user,
        email=member.email,
        role=member.role,
        pending=member.user.startswith(INVITE_PREFIX),
    )


# --- books ---


@router.get("/books")
async def read_books(services: ServicesDep, user: CurrentUser) -> BookList:
    """The books the caller belongs to (invitations to their e-mail address are accepted here)."""
    states = await services.books.books_of(user.id, user.email)
    return BookList(books=[book_public(s, user.id) for s in states])


@router.post("/books", status_code=status.HTTP_201_CREATED)
async def create_book(body: BookCreate, services: ServicesDep, user: CurrentUser) -> BookPublic:
    """A new book, owned by the caller."""
    state = await services.books.create_book(user.id, user.email, body.name)
    if services.keys is not None:  # the book's signing key comes with it (engine/keys.py)
        await services.keys.ensure(state.id, actor=user.id)
    return book_public(state, user.id)


@router.get("/books/{book}", responses=_of_book)
async def read_book(user: CurrentUser, book: MemberBook) -> BookPublic:
    """One of the caller's books."""
    return book_public(book, user.id)


@router.patch("/books/{book}", responses=_admin)
async def update_book(
    body: BookUpdate, services: ServicesDep, user: CurrentUser, book: MemberBook
) -> BookPublic:
    """Change the book's sharing policy (owner and admins); turning external sharing off stops
    every share to someone outside the book at once."""
    state = book
    if body.external_sharing is not None:
        state = await app_shares.set_external_sharing(
            services, user, book.id, body.external_sharing
        )
    else:
        book.require_admin(user.id)  # an empty change is still an admin's request
    return book_public(state, user.id)


# --- members ---


@router.get("/books/{book}/members", responses=_of_book)
async def read_members(book: MemberBook) -> MemberList:
    """Everyone in the book, pending invitations included."""
    members = sorted(
        book.members.values(),
        key=lambda m: (_ROLE_ORDER.get(m.role, 9), m.user.startswith(INVITE_PREFIX), m.email),
    )
    return MemberList(members=[member_public(m) for m in members])


@router.post("/books/{book}/members", status_code=status.HTTP_201_CREATED, responses=_admin)
async def create_member(
    body: MemberCreate, services: ServicesDep, user: CurrentUser, book: MemberBook
) -> MemberCreated:
    """Add someone by e-mail (owner and admins): at once if they have an account, else invited."""
    email = normalise_email(body.email)
    account = await services.accounts.find_user_by_email(email)
    account_id = account.id if account is not None else None
    state = await services.books.add_member(user.id, book.id, email, body.role, account_id)
    added = state.member_by_email(email)
    if added is None:  # claimed or removed by someone else in between
        raise NotFound("the member left the book as soon as they were added")
    return MemberCreated(**member_public(added).model_dump(), invited=account is None)


@router.patch("/books/{book}/members/{user}", responses=_admin)
async def update_member(
    body: MemberUpdate,
    services: ServicesDep,
    caller: CurrentUser,
    book: MemberBook,
    user: Annotated[str, Path(max_length=400, description="The member's user id.")],
) -> MemberPublic:
    """Change a member's role (owner and admins); role `owner` transfers ownership (owner only)."""
    state = await services.books.change_role(caller.id, book.id, user, body.role)
    member = state.members.get(user)
    if member is None:
        raise NotFound("no such member")
    return member_public(member)


@router.delete(
    "/books/{book}/members/{user}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_admin,
)
async def delete_member(
    services: ServicesDep,
    caller: CurrentUser,
    book: MemberBook,
    user: Annotated[str, Path(max_length=400, description="The member's user id.")],
) -> None:
    """Remove a member (owner and admins), or leave the book (your own id); their chapters go
    to the owner. Removing a pending invitation withdraws it."""
    await services.books.remove_member(caller.id, book.id, user)


# --- chapters ---


@router.get("/books/{book}/chapters", responses=_of_book)
async def read_chapters(services: ServicesDep, user: CurrentUser, book: MemberBook) -> ChapterList:
    """The book's chapters the caller sees: all of them for the owner and admins, else their own."""
    return ChapterList(
        chapters=[
            await chapter_public(services, entry, book.id)
            for entry in book.visible_chapters(user.id)
        ]
    )


@router.post("/books/{book}/chapters", status_code=status.HTTP_201_CREATED, responses=_admin)
async def create_chapter(
    body: ChapterCreate, services: ServicesDep, user: CurrentUser, book: MemberBook
) -> ChapterPublic:
    """A new chapter, assigned to the caller or (owner and admins) to another member."""
    entry = await services.books.create_chapter(user.id, book.id, body.title, body.assignee)
    return await chapter_public(services, entry, book.id, detail=True)
