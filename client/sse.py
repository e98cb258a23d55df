"""Server-sent events: parse the stream of a streamed answer.

The wire format (https://html.spec.whatwg.org/multipage/server-sent-events.html): lines of
`field: value`; `event` names the event, `data` lines accumulate, a blank line dispatches,
lines starting with `:` are comments (keep-alives).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

__all__ = ["iter_sse"]


async def iter_sse(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str]]:
    """(event name, data) for each event; the name defaults to `message`."""
    event = ""
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data or event:
                yield event or "message", "\n".join(data)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
    if data:
        yield event or "message", "\n".join(data)
