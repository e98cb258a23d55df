"""Public shapes shared by several resources (a resource's own shapes live in its route module)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["UserPublic"]


class UserPublic(BaseModel):
    """A user as others may see them: no password hash, no tokens."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    """The user's id (a ULID)."""
    email: str
    """Normalised e-mail address (lower-case)."""
    name: str
    """Display name; may be empty."""
    created_at: int
    """Unix ms of sign-up."""
