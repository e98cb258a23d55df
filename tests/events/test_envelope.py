"""The envelope codec: round trips for every event type, forward compatibility, bad input."""

import types
import typing

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import events
from events.envelope import _KNOWN

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


def strategy_for(tp: typing.Any) -> st.SearchStrategy:
    """A strategy for a field annotation (the subset of types events use)."""
    origin = typing.get_origin(tp)
    if tp is int:
        return INT64
    if tp is str:
        return st.text(max_size=40)
    if tp is bytes:
        return st.binary(max_size=64)
    if tp is bool:
        return st.booleans()
    if tp is type(None):
        return st.none()
    if origin is typing.Literal:
        return st.sampled_from(typing.get_args(tp))
    if origin is list:
        return st.lists(strategy_for(typing.get_args(tp)[0]), max_size=4)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(strategy_for(a) for a in typing.get_args(tp)))
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return struct_strategy(tp)
    raise TypeError(f"no strategy for {tp!r}")


def struct_strategy(cls: type) -> st.SearchStrategy:
    hints = typing.get_type_hints(cls)
    fields = {f.name: strategy_for(hints[f.name]) for f in msgspec.structs.fields(cls)}
    return st.fixed_dictionaries(fields).map(lambda kw: cls(**kw))


any_body = st.one_of(*(struct_strategy(t) for t in _KNOWN.__args__))
envelopes = st.builds(
    events.Envelope,
    id=st.text(max_size=26),
    chapter=st.text(max_size=26),
    rev=st.integers(min_value=1, max_value=2**53),
    at=st.integers(min_value=0, max_value=2**53),
    actor=st.text(max_size=30),
    body=any_body,
)


@given(envelopes)
def test_every_event_type_round_trips_through_the_codec(envelope):
    payload = events.encode(envelope)
    assert events.decode(payload) == envelope
    # Encoding is deterministic: the hash chain is computed over these bytes.
    assert events.encode(events.decode(payload)) == payload


def test_every_event_type_is_covered_by_the_union():
    tags = {t.__struct_config__.tag for t in _KNOWN.__args__}
    assert {"SourceAdded", "MessagePosted", "BookCreated", "ShareGranted"} <= tags
    assert len(tags) == len(_KNOWN.__args__), "tags must be unique"


def test_an_unknown_event_type_decodes_to_unknown_event_keeping_its_bytes():
    # A newer version wrote an event type (and a field) this version has never heard of.
    future_body = msgspec.msgpack.encode({"type": "SourceTranslated", "source": "s1", "lang": "fr"})
    wire = msgspec.msgpack.encode(
        {"v": 1, "id": "e1", "chapter": "c1", "rev": 7, "at": 1, "actor": "u1", "body": None}
    )
    payload = wire[:-1] + future_body  # replace the trailing nil with the raw body
    envelope = events.decode(payload)
    assert isinstance(envelope.body, events.UnknownEvent)
    assert envelope.body.type == "SourceTranslated"
    assert envelope.body.raw == future_body
    assert envelope.rev == 7
    # Re-encoding writes the very same bytes back.
    assert events.encode(envelope) == payload


def test_a_known_event_with_new_fields_still_decodes():
    body = msgspec.msgpack.encode({"type": "SourceRemoved", "source": "s1", "reason": "dup"})
    assert events.decode_body(body) == events.SourceRemoved(source="s1")


def test_a_known_event_with_a_wrong_field_is_a_decode_error():
    body = msgspec.msgpack.encode({"type": "SourceRemoved", "source": 42})
    with pytest.raises(events.DecodeError, match="invalid SourceRemoved"):
        events.decode_body(body)


@pytest.mark.parametrize(
    "payload", [b"", b"\xc1", b"not msgpack at all", msgspec.msgpack.encode([1])]
)
def test_garbage_is_a_decode_error(payload):
    with pytest.raises(events.DecodeError):
        events.decode(payload)


def test_recorded_event_decodes_lazily():
    envelope = events.Envelope(
        id=events.new_id(),
        chapter="c",
        rev=1,
        at=0,
        actor="u",
        body=events.ChapterRenamed(title="t"),
    )
    recorded = events.RecordedEvent(rev=1, hash=bytes(32), payload=events.encode(envelope))
    assert recorded.envelope == envelope


def test_ids_are_lower_case_ulids():
    ids = [events.new_id() for _ in range(100)]
    assert all(events.is_id(i) for i in ids)
    assert len(set(ids)) == 100
    assert not events.is_id("ABC")
    assert not events.is_id(ids[0].upper())


# The tags on the wire today; a tag is never renamed or removed (a class may be).
KNOWN_TAGS = {
    "ChapterCreated", "ChapterRenamed", "ChapterForked", "ChapterMirrored", "MirrorSynced",
    "SourceAdded", "SourceExtracted", "SourceRejected", "SourceEdited", "SourceRetagged",
    "SourceRemoved", "ThreadStarted", "MessagePosted", "ShareGranted", "ShareRevoked",
    "HeadSigned", "BookCreated", "MemberAdded", "MemberRemoved", "RoleChanged",
    "ChapterRegistered", "ChapterReassigned", "ChapterDeleted", "PolicyChanged", "PlanChanged",
}  # fmt: skip


def test_every_event_names_its_permanent_tag_explicitly():
    # Written on each class as a constant, so that renaming a class cannot change the format.
    import ast
    from pathlib import Path

    import events.book
    import events.chapter

    written = set()
    for module in (events.chapter, events.book):
        tree = ast.parse(Path(module.__file__).read_text())
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name) and b.id == "Event" for b in node.bases
            ):
                tags = [k.value for k in node.keywords if k.arg == "tag"]
                assert tags and isinstance(tags[0], ast.Constant), node.name
                written.add(tags[0].value)
    assert written >= KNOWN_TAGS, f"tags gone from the format: {KNOWN_TAGS - written}"
