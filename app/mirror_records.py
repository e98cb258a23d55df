"""Where a live mirror's share token and owner are kept: in the accounts store's secret box (the
token is a secret), one scope per mirror chapter. A module of its own because the request paths
that forward a guest's writes (app/forwarding.py) and connectors need it without the followers."""

from __future__ import annotations

import msgspec

from app.services import Services

__all__ = ["PeerRecord", "forget_token", "keep", "mirror_record"]

_TOKEN = "share.token"
_PEER = "share.peer"


class PeerRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What a mirror's follower (and a guest's writes) need to reach the owner's chapter."""

    share: str
    mode: str
    from_chapter: str
    from_server: str | None
    interval_s: int | None = None
    permissions: list[str] = []
    """What the share allowed when accepted (the owner checks again on every request)."""


def _scope(chapter: str) -> str:
    return f"mirror:{chapter}"


async def keep(services: Services, chapter: str, token: str, record: PeerRecord) -> None:
    """Keep a new mirror's share token and owner."""
    await services.accounts.put_secret(_scope(chapter), _TOKEN, token)
    await services.accounts.put_secret(_scope(chapter), _PEER, msgspec.json.encode(record).decode())


async def mirror_record(services: Services, chapter: str) -> tuple[str, PeerRecord] | None:
    """The share token and peer of a live mirror; None for any other chapter."""
    raw = await services.accounts.get_secret(_scope(chapter), _PEER)
    token = await services.accounts.get_secret(_scope(chapter), _TOKEN)
    if raw is None or token is None:
        return None
    return token, msgspec.json.decode(raw, type=PeerRecord)


async def forget_token(services: Services, chapter: str) -> None:
    """The share ended: its token is of no more use (the record stays, for what the mirror was)."""
    await services.accounts.delete_secret(_scope(chapter), _TOKEN)
