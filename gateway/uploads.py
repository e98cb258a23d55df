"""Reading request bodies within limits: multipart uploads spooled to disk, small JSON bodies.

A multipart upload is read as it arrives, each file spooled to a temporary file (a little in
memory, the rest on disk), with two limits on the way: a Content-Length past the limit is
refused before a byte is read, and a body that grows past it while streaming (chunked uploads)
is refused when it does. Only once the whole form has arrived within the limits does the caller
store anything, so a refused upload leaves nothing in the blob store or the log.

`limit` caps the files' bytes; the body may exceed it by `FORM_OVERHEAD_BYTES` of boundaries,
part headers and small fields.
"""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from engine.blobs import CHUNK_SIZE
from gateway.errors import BadRequest, PayloadTooLarge

__all__ = [
    "FORM_OVERHEAD_BYTES",
    "MAX_FILES",
    "UploadForm",
    "multipart_body",
    "read_small_body",
    "read_upload_form",
    "upload_chunks",
    "upload_media_type",
]

FORM_OVERHEAD_BYTES = 64 * 1024
"""What a multipart body may carry beyond its files' bytes (boundaries, headers, tags)."""
MAX_FILES = 100
"""Files in one request."""
MAX_FIELDS = 100
"""Non-file fields in one request."""
MAX_FIELD_BYTES = 4096
"""Bytes of one non-file field."""


def multipart_body(
    files: str,
    fields: Mapping[str, dict[str, Any]] | None = None,
    json_schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `openapi_extra` of a route that reads its body with `read_upload_form` (FastAPI
    cannot describe a form it does not parse): `file` parts described by `files`, the text
    `fields` by their schemas, and an `application/json` alternative when one is given."""
    content: dict[str, Any] = {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": files,
                    },
                    **(fields or {}),
                },
            }
        }
    }
    if json_schema is not None:
        content["application/json"] = {"schema": json_schema}
    return {"requestBody": {"required": True, "content": content}}


class _SpoolingParser(MultiPartParser):
    # A file stays in memory up to this size, then moves to a temporary file: with MAX_FILES
    # files a request holds at most 25 MiB in memory, whatever the size of its files.
    spool_max_size = 256 * 1024


@dataclass
class UploadForm:
    """A parsed upload: its files (spooled, rewound) and its other fields, in order."""

    files: list[UploadFile] = field(default_factory=list)
    fields: list[tuple[str, str]] = field(default_factory=list)

    def values(self, name: str) -> list[str]:
        """Every value of the field `name`."""
        return [value for key, value in self.fields if key == name]

    async def close(self) -> None:
        """Remove the spooled files."""
        for upload in self.files:
            await upload.close()


def _too_large(limit: int, what: str = "the upload") -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{what} is larger than the limit of {limit:,} bytes; nothing was stored"
    )


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"the Content-Length header {value!r} is not a number") from None


async def _limited(
    request: Request, body_limit: int, shown_limit: int, what: str = "the upload"
) -> AsyncIterator[bytes]:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > body_limit:
            raise _too_large(shown_limit, what)
        yield chunk


async def read_upload_form(
    request: Request, *, limit: int, file_field: str, fields: Iterable[str]
) -> UploadForm:
    """The multipart body of `request`: files under `file_field`, text under `fields`.

    PayloadTooLarge (413) past `limit`; BadRequest (400) for a malformed body, a part that is not
    what its name says, or an unknown field. Empty file inputs (a browser's form with no file
    chosen: no filename, no bytes) are left out. The caller closes the form.
    """
    allowed = set(fields)
    body_limit = limit + FORM_OVERHEAD_BYTES
    declared = _declared_length(request)
    if declared is not None and declared > body_limit:
        raise _too_large(limit)
    parser = _SpoolingParser(
        request.headers,
        _limited(request, body_limit, limit),
        max_files=MAX_FILES,
        max_fields=MAX_FIELDS,
        max_part_size=MAX_FIELD_BYTES,
    )
    try:
        parsed = await parser.parse()
    except MultiPartException as exc:
        raise BadRequest(f"the multipart body cannot be read: {exc.message}") from None
    form = UploadForm()
    try:
        for name, value in parsed.multi_items():
            if isinstance(value, UploadFile):
                if not value.filename and not value.size:
                    await value.close()
                    continue
                form.files.append(value)
                if name != file_field:
                    raise BadRequest(
                        f"a file was sent as {name!r}; send files as {file_field!r} parts"
                    )
            elif name == file_field:
                raise BadRequest(
                    f"the {file_field!r} part carries no file: give it a filename in its "
                    "Content-Disposition (curl: -F file=@path)"
                )
            elif name in allowed:
                form.fields.append((name, value))
            else:
                known = ", ".join(repr(n) for n in (file_field, *sorted(allowed)))
                raise BadRequest(f"unknown form field {name!r}; the form takes {known}")
        if sum(upload.size or 0 for upload in form.files) > limit:
            raise _too_large(limit)
    except BaseException:
        await form.close()
        raise
    for upload in form.files:
        await upload.seek(0)
    return form


def upload_media_type(upload: UploadFile) -> str:
    """The media type a file part declares, else one guessed from its name."""
    declared = (upload.content_type or "").split(";", 1)[0].strip().lower()
    if declared and declared != "application/octet-stream":
        return declared
    guessed = mimetypes.guess_type(upload.filename or "")[0]
    return guessed or "application/octet-stream"


async def upload_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    """A spooled file's bytes in chunks (disk reads run in a worker thread)."""
    while chunk := await upload.read(CHUNK_SIZE):
        yield chunk


async def read_small_body(request: Request, limit: int) -> bytes:
    """The whole body of a request that must be small (a JSON command); 413 past `limit`."""
    declared = _declared_length(request)
    what = "the request body"
    if declared is not None and declared > limit:
        raise _too_large(limit, what)
    parts = [chunk async for chunk in _limited(request, limit, limit, what)]
    return b"".join(parts)
