"""Helpers of the OAuth connector tests: a TokenSource signed in at a fake's token endpoint (as
the server builds one from the operator's settings), and a ServiceClient that uses it."""

from __future__ import annotations

from engine.connectors.http import ServiceClient
from engine.connectors.oauth import PROVIDERS, OAuthClient, Tokens, TokenSource
from tests.connectors.connector_support import Sleeps
from tests.fakes.oauth_server import ApiServer


class Saved(list):
    """The tokens a TokenSource saved, in order."""

    async def __call__(self, tokens: Tokens) -> None:
        self.append(tokens)


def signed_in(fake: ApiServer, provider: str) -> tuple[TokenSource, Saved]:
    """A TokenSource holding tokens the fake issued, and what it saves."""
    issued = fake.oauth.issue()
    client = OAuthClient(
        PROVIDERS[provider], client_id=fake.oauth.client_id,
        client_secret=fake.oauth.client_secret, token_url=f"{fake.base_url}/oauth/token",
        allow_private=True,
    )  # fmt: skip
    saved = Saved()
    tokens = Tokens(access_token=issued["access_token"], refresh_token=issued["refresh_token"])
    return TokenSource(client, tokens, saved), saved


def api_client(fake: ApiServer, source: TokenSource, sleeps: Sleeps | None = None) -> ServiceClient:
    """A client of the fake's API that signs its requests with `source`."""
    return ServiceClient(fake.base_url, service=source.client.provider.title, headers={},
                         auth=source, allow_private=True,
                         sleep=sleeps if sleeps is not None else Sleeps())  # fmt: skip
