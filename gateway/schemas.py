"""Public shapes shared by several resources (a resource's own shapes live in its route module).

`SpanPublic` and `UsagePublic` are the HTTP faces of the canonical `events.Span` and
`events.TokenUsage`: tests/gateway/test_gateway_schemas.py holds their fields (and those of every
copy the OpenAPI document shows) in step with the msgspec Structs.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["MessageCitationPublic", "SpanPublic", "UsagePublic", "UserPublic"]


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


class SpanPublic(BaseModel):
    """Where a passage sits in its source's extracted text (`events.Span`)."""

    model_config = ConfigDict(use_attribute_docstrings=True, from_attributes=True)

    start: int
    """Offset of its first character (code points)."""
    end: int
    """Offset one past its last character."""
    page: int | None = None
    """The page it starts on, where the format has pages."""
    heading: str | None = None
    """The nearest heading above it, where the format has headings."""


class UsagePublic(BaseModel):
    """Tokens an answer cost, as the provider counted them (`events.TokenUsage`)."""

    model_config = ConfigDict(use_attribute_docstrings=True, from_attributes=True)

    prompt: int
    """Tokens sent."""
    completion: int
    """Tokens received."""


class MessageCitationPublic(BaseModel):
    """A passage a recorded answer cited (`events.Citation`, its span gathered, its source named)."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    source: str
    """Source id."""
    source_name: str
    """The source's name ("" when it is not known)."""
    chunk: str
    """Chunk hash."""
    span: SpanPublic
