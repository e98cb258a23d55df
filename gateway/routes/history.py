"""History over HTTP: what changed between two revs, and where an answer came from.

GET …/diff?from=A&to=B folds the chapter's log (chain checked) to both revs and compares them
(projections/diff.py); GET …/threads/{thread}/messages/{message}/provenance resolves an answer's
citations as of its rev and runs its retrieval again there (app/provenance.py). A rev the chapter
does not have, or `from` after `to`, answers 400 `rev_out_of_range`.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from fastapi import APIRouter, Path, Query

from app import asof
from app import provenance as app_provenance
from gateway.deps import ReadableChapter, ServicesDep
from gateway.errors import error_responses
from gateway.schemas_history import DiffPublic, ProvenancePublic

__all__ = ["router"]

_MAX_REV = 2**63 - 1

router = APIRouter(tags=["history"], responses=error_responses(401, 404, 409))

_Id = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/chapters/{chapter}/diff", responses=error_responses(400))
async def read_diff(
    services: ServicesDep,
    chapter: ReadableChapter,
    from_rev: Annotated[
        int, Query(alias="from", ge=0, le=_MAX_REV, description="The earlier rev (0: empty).")
    ],
    to_rev: Annotated[
        int | None,
        Query(alias="to", ge=0, le=_MAX_REV, description="The later rev (default: the head)."),
    ] = None,
) -> DiffPublic:
    """Sources added, removed, retagged and edited (a bounded text diff), the chapter renamed,
    and messages posted, from rev `from` to rev `to`."""
    log = services.logs.chapter(chapter.id)
    to = to_rev if to_rev is not None else (await log.head()).rev
    diff = await asof.chapter_diff(services.read, chapter.id, from_rev, to)
    return DiffPublic.model_validate(msgspec.to_builtins(diff))


@router.get(
    "/chapters/{chapter}/threads/{thread}/messages/{message}/provenance",
    responses=error_responses(503),
)
async def read_provenance(
    services: ServicesDep, chapter: ReadableChapter, thread: _Id, message: _Id
) -> ProvenancePublic:
    """An answer's rev, its cited passages read back by chunk hash, its model, its recorded
    retrieval configuration, and that retrieval run again at its rev (`same`: the same
    passages)."""
    found = await app_provenance.provenance(services.read, chapter.id, thread, message)
    return ProvenancePublic.model_validate(msgspec.to_builtins(found))
