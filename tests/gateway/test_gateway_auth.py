"""Sign-up, login, API tokens and /v1/me over HTTP, against a real SQLite accounts store."""

from __future__ import annotations

import logging

from gateway_support import assert_error, bearer, sign_up


async def test_signup_answers_the_user_and_a_working_token(client):
    response = await client.post(
        "/v1/auth/signup",
        json={"email": " Ada@Example.org ", "password": "correct horse battery", "name": "Ada"},
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"user", "token", "token_id", "expires_at"}
    assert body["user"]["email"] == "ada@example.org"  # normalised by the store
    assert body["user"]["name"] == "Ada"
    assert "password" not in response.text and "correct horse" not in response.text
    assert body["token"].startswith("rs_")
    assert body["expires_at"] is not None  # a session token, not a forever token

    me = await client.get("/v1/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.json() == body["user"]


async def test_login_with_the_right_password_gives_a_new_token(client):
    first = await sign_up(client)
    response = await client.post(
        "/v1/auth/login",
        json={"email": "ADA@example.org", "password": "correct horse battery", "ttl_s": None},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token"] != first
    assert body["expires_at"] is None  # asked for a token that never expires
    me = await client.get("/v1/me", headers=bearer(body["token"]))
    assert me.json()["email"] == "ada@example.org"


async def test_duplicate_email_is_409(client):
    await sign_up(client)
    response = await client.post(
        "/v1/auth/signup",
        json={"email": "ada@EXAMPLE.org", "password": "another password", "name": "Imposter"},
    )
    error = assert_error(response, 409, "email_taken")
    assert "ada@example.org" in error["message"]


async def test_wrong_password_and_unknown_email_are_the_same_401(client):
    await sign_up(client)
    wrong = await client.post(
        "/v1/auth/login", json={"email": "ada@example.org", "password": "not the password"}
    )
    unknown = await client.post(
        "/v1/auth/login", json={"email": "nobody@example.org", "password": "whatever123"}
    )
    assert assert_error(wrong, 401, "invalid_credentials") == assert_error(
        unknown, 401, "invalid_credentials"
    )
    assert wrong.headers["www-authenticate"].startswith("Bearer")


async def test_weak_password_and_bad_email_are_422_with_the_stores_words(client):
    weak = await client.post(
        "/v1/auth/signup", json={"email": "bob@example.org", "password": "short"}
    )
    assert "at least 8 characters" in assert_error(weak, 422, "weak_password")["message"]
    bad = await client.post(
        "/v1/auth/signup", json={"email": "not an address", "password": "long enough pw"}
    )
    assert_error(bad, 422, "invalid_email")


async def test_missing_token_is_401_with_a_challenge(client):
    response = await client.get("/v1/me")
    assert_error(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == 'Bearer realm="ragstack"'
    # Another scheme is no bearer token either.
    basic = await client.get("/v1/me", headers={"Authorization": "Basic YWRhOnB3"})
    assert_error(basic, 401, "not_authenticated")


async def test_garbage_token_is_401(client):
    for token in ["rs_not-a-real-token", "nonsense", "rs_" + "x" * 500]:
        response = await client.get("/v1/me", headers=bearer(token))
        assert_error(response, 401, "invalid_token")
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_expired_token_is_401(client, clock):
    session = await sign_up(client)
    created = await client.post(
        "/v1/auth/tokens", json={"name": "short", "ttl_s": 60}, headers=bearer(session)
    )
    assert created.status_code == 201
    token = created.json()["token"]
    assert (await client.get("/v1/me", headers=bearer(token))).status_code == 200

    clock.advance(61)  # the accounts store's clock: now past the token's expiry
    response = await client.get("/v1/me", headers=bearer(token))
    assert_error(response, 401, "token_expired")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_tokens_are_listed_without_secrets_and_revoked_ones_stop_working(client):
    session = await sign_up(client)
    created = await client.post("/v1/auth/tokens", json={"name": "ci"}, headers=bearer(session))
    assert created.status_code == 201
    ci = created.json()
    assert ci["name"] == "ci" and ci["expires_at"] is None and ci["token"].startswith("rs_")

    listed = await client.get("/v1/auth/tokens", headers=bearer(session))
    assert listed.status_code == 200
    tokens = listed.json()["tokens"]
    assert [t["name"] for t in tokens] == ["signup", "ci"]
    assert [t["current"] for t in tokens] == [True, False]
    assert all("token" not in t for t in tokens)
    assert ci["token"] not in listed.text and session not in listed.text

    # Revoke the ci token: it stops working at once, the session token goes on.
    deleted = await client.delete(f"/v1/auth/tokens/{ci['id']}", headers=bearer(session))
    assert deleted.status_code == 204
    assert_error(await client.get("/v1/me", headers=bearer(ci["token"])), 401, "invalid_token")
    assert (await client.get("/v1/me", headers=bearer(session))).status_code == 200
    # Revoking it again, or a token that is not ours, is 404.
    again = await client.delete(f"/v1/auth/tokens/{ci['id']}", headers=bearer(session))
    assert_error(again, 404, "token_not_found")


async def test_one_user_cannot_revoke_another_users_token(client):
    ada = await sign_up(client)
    bob = await sign_up(client, email="bob@example.org", name="Bob")
    ada_tokens = (await client.get("/v1/auth/tokens", headers=bearer(ada))).json()["tokens"]
    response = await client.delete(f"/v1/auth/tokens/{ada_tokens[0]['id']}", headers=bearer(bob))
    assert_error(response, 404, "token_not_found")
    assert (await client.get("/v1/me", headers=bearer(ada))).status_code == 200


async def test_revoking_the_current_token_logs_out(client):
    session = await sign_up(client)
    tokens = (await client.get("/v1/auth/tokens", headers=bearer(session))).json()["tokens"]
    response = await client.delete(f"/v1/auth/tokens/{tokens[0]['id']}", headers=bearer(session))
    assert response.status_code == 204
    assert_error(await client.get("/v1/me", headers=bearer(session)), 401, "invalid_token")


async def test_token_routes_need_a_token(client):
    for method, path in [
        ("GET", "/v1/auth/tokens"),
        ("POST", "/v1/auth/tokens"),
        ("DELETE", "/v1/auth/tokens/01abc"),
    ]:
        response = await client.request(method, path, json={"name": "x"})
        assert_error(response, 401, "not_authenticated")


async def test_a_disabled_user_is_403(client, services):
    session = await sign_up(client)
    me = (await client.get("/v1/me", headers=bearer(session))).json()
    await services.accounts.set_disabled(me["id"], True)
    assert_error(await client.get("/v1/me", headers=bearer(session)), 403, "user_disabled")
    login = await client.post(
        "/v1/auth/login", json={"email": "ada@example.org", "password": "correct horse battery"}
    )
    assert_error(login, 403, "user_disabled")


async def test_token_lifetime_out_of_range_is_422(client):
    session = await sign_up(client)
    for ttl in [0, -5, 10**12, "soon"]:
        response = await client.post(
            "/v1/auth/tokens", json={"name": "x", "ttl_s": ttl}, headers=bearer(session)
        )
        error = assert_error(response, 422, "validation_error")
        assert error["details"][0]["loc"] == ["body", "ttl_s"]


async def test_passwords_and_tokens_never_reach_the_logs(client, caplog):
    caplog.set_level(logging.DEBUG)
    session = await sign_up(client, password="hunter2-very-secret")
    await client.post(
        "/v1/auth/login", json={"email": "ada@example.org", "password": "wrong-but-secret"}
    )
    await client.get("/v1/me", headers=bearer(session))
    await client.get("/v1/me", headers=bearer("rs_guessed-secret-token"))
    text = caplog.text
    assert "ragstack.gateway.access" in {r.name for r in caplog.records}  # the access log ran
    for secret in ["hunter2-very-secret", "wrong-but-secret", session, "rs_guessed-secret-token"]:
        assert secret not in text
