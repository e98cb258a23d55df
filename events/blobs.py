"""Which blobs an event names: what a copy, a mirror or a guest must hold to use the event."""

from collections.abc import Iterable

from events.chapter import Event, SourceAdded, SourceEdited, SourceExtracted

__all__ = ["blobs_of", "blobs_of_all"]


def blobs_of(body: Event | object) -> list[str]:
    """The BLAKE3 hex of every blob `body` references, in a stable order (none for most events):
    a source's original bytes and assets, an extraction's text and chunk manifest, an edit's
    base and new texts, and the event's personal blob when it is sealed (events/personal.py)."""
    sealed: str | None = getattr(body, "sealed", None)
    personal = [sealed] if sealed is not None else []
    match body:
        case SourceAdded():
            return [body.blob, *body.assets, *personal]
        case SourceExtracted():
            return [body.text_blob, *([body.chunks_blob] if body.chunks_blob else [])]
        case SourceEdited():
            return [body.base_text, body.new_text, *personal]
    return personal


def blobs_of_all(bodies: Iterable[Event | object]) -> list[str]:
    """Every blob the bodies name, once each, in the order they first name it."""
    return list(dict.fromkeys(h for body in bodies for h in blobs_of(body)))
