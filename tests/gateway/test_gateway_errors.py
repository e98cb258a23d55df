"""Every error is JSON {"error": {"code", "message"}} with the status the one table gives it."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from gateway_support import assert_error
from pydantic import BaseModel

from engine.accounts import (
    AccountStoreUnavailable,
    DecryptionFailed,
    EmailTaken,
    InvalidArgument,
    InvalidShareToken,
    TokenExpired,
    UserNotFound,
    WeakPassword,
)
from engine.errors import (
    BlobCorrupt,
    BlobNotFound,
    BlobStoreUnavailable,
    BlobTooLarge,
    ChapterNotFound,
    EngineError,
    EventTooLarge,
    InvalidBlobHash,
    LogUnavailable,
    RevisionConflict,
)
from engine.rules import Conflict, Forbidden, NotFound
from gateway.app import create_app
from gateway.errors import (
    STATUS_BY_CLASS,
    STATUS_BY_CODE,
    BadRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    classify,
)
from projections.store_postgres import ViewsUnavailable

CASES = [
    (Forbidden("only the book's owner and admins may do this"), 403, "forbidden"),
    (NotFound("no such chapter"), 404, "not_found"),
    (Conflict("the owner cannot leave the book"), 409, "conflict"),
    (EmailTaken("a@b.org"), 409, "email_taken"),
    (WeakPassword("too short"), 422, "weak_password"),
    (InvalidArgument("bad"), 422, "invalid_argument"),
    (TokenExpired("01tok"), 401, "token_expired"),
    (UserNotFound("01usr"), 404, "user_not_found"),
    (InvalidShareToken(), 404, "invalid_share_token"),
    (AccountStoreUnavailable("the accounts database failed"), 503, "account_store_unavailable"),
    (DecryptionFailed("the secret cannot be decrypted"), 500, "decryption_failed"),
    (BlobNotFound("ab" * 32), 404, "blob_not_found"),
    (BlobTooLarge(1000), 413, "blob_too_large"),
    (InvalidBlobHash("not a hash"), 422, "invalid_blob_hash"),
    (BlobCorrupt("ab" * 32, "cd" * 32, "disk"), 500, "blob_corrupt"),
    (BlobStoreUnavailable("bucket gone"), 503, "blob_store_unavailable"),
    (ChapterNotFound("01chp"), 404, "chapter_not_found"),
    (RevisionConflict(3, 4), 409, "revision_conflict"),
    (EventTooLarge(300_000, 262_144), 413, "event_too_large"),
    (LogUnavailable("nats did not answer"), 503, "log_unavailable"),
    (ViewsUnavailable("the views database at db:5432/rs is unavailable"), 503, "views_unavailable"),
    (BadRequest("the multipart body has no file"), 400, "bad_request"),
    (PayloadTooLarge("the body is over 10 bytes"), 413, "payload_too_large"),
    (UnsupportedMediaType("text/x-unknown cannot be read"), 415, "unsupported_media_type"),
]


class Echo(BaseModel):
    count: int


@pytest.fixture
def raising_app(services) -> FastAPI:
    """The real app plus test-only routes that raise the errors of CASES, and a bug."""
    app = create_app(services)

    @app.get("/test/raise/{index}")
    async def raise_case(index: int) -> None:
        raise CASES[index][0]

    @app.get("/test/bug")
    async def raise_bug() -> None:
        raise RuntimeError("internal detail: password=letmein at /srv/secret")

    @app.post("/test/echo")
    async def echo(body: Echo) -> Echo:
        return body

    return app


@pytest.mark.parametrize(("index", "case"), list(enumerate(CASES)), ids=lambda c: repr(c)[:40])
async def test_each_error_maps_to_its_status_and_code(make_client, raising_app, index, case):
    exc, status, code = case
    async with make_client(raising_app) as client:
        response = await client.get(f"/test/raise/{index}")
    error = assert_error(response, status, code)
    assert error["message"] == str(exc)
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_an_unexpected_exception_is_a_500_without_details_and_is_logged(
    make_client, raising_app, caplog
):
    caplog.set_level(logging.ERROR, logger="ragstack.gateway")
    async with make_client(raising_app) as client:
        response = await client.get("/test/bug")
        error = assert_error(response, 500, "internal")
        # The client learns nothing of the failure but an incident id to quote.
        assert "password" not in response.text and "RuntimeError" not in response.text
        assert "Traceback" not in response.text and "/srv/secret" not in response.text
        incident = error["message"].split("incident ")[1].rstrip(")")
        # The server log has the whole story under that id.
        record = next(r for r in caplog.records if incident in r.getMessage())
        assert record.exc_info and record.exc_info[0] is RuntimeError
        assert "/test/bug" in record.getMessage()  # the route template, not a raw path
        # The app goes on answering.
        assert (await client.get("/health")).status_code == 200


async def test_validation_errors_are_422_in_the_same_shape_without_the_input(
    make_client, raising_app
):
    async with make_client(raising_app) as client:
        wrong_type = await client.post("/test/echo", json={"count": "many-secret-words"})
        error = assert_error(wrong_type, 422, "validation_error")
        assert error["details"] == [
            {"loc": ["body", "count"], "msg": error["details"][0]["msg"], "type": "int_parsing"}
        ]
        assert "body.count" in error["message"]
        assert "many-secret-words" not in wrong_type.text  # inputs are never echoed

        missing = await client.post("/test/echo", json={})
        assert assert_error(missing, 422, "validation_error")["details"][0]["type"] == "missing"

        not_json = await client.post(
            "/test/echo", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert "not valid JSON" in assert_error(not_json, 422, "validation_error")["message"]

        bad_path = await client.get("/test/raise/seven")
        assert_error(bad_path, 422, "validation_error")


async def test_unknown_routes_and_methods_use_the_shape_too(client):
    assert_error(await client.get("/v1/nothing-here"), 404, "not_found")
    response = await client.put("/v1/me/export")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"


def test_a_subclass_inherits_its_bases_mapping_unless_it_has_its_own():
    class NoSuchBook(NotFound):
        pass

    class ShareRefused(Forbidden):
        code = "share_refused"  # a code the table does not know: the base's status, its code

    assert classify(NoSuchBook("x")) == (404, "not_found")
    assert classify(ShareRefused("x")) == (403, "share_refused")


def test_an_unmapped_engine_error_is_a_500_with_its_code():
    class Strange(EngineError):
        code = "strange"

    assert classify(Strange("x")) == (500, "strange")
    assert classify(RuntimeError("x")) == (500, "internal")


def test_a_code_set_on_the_instance_is_honoured():
    exc = EngineError("late")
    exc.code = "revision_conflict"
    assert classify(exc) == (409, "revision_conflict")


def test_the_table_only_uses_statuses_the_design_names():
    # 502: another RagStack server, reached for a share, did not answer as one should.
    allowed = {400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 502, 503}
    assert set(STATUS_BY_CODE.values()) <= allowed
    assert {status for status, _ in STATUS_BY_CLASS.values()} <= allowed
