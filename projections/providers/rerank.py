"""A rerank API client: Cohere's or Jina's shape, or any service speaking it.

    reranker = Reranker(kind="cohere", base_url="https://…", model="rerank-v3.5", api_key=key)
    order = await reranker.rerank("query", ["passage one", "passage two"], top_n=8)
    # [(1, 0.93), (0, 0.41)]: (index into the documents, relevance), best first

Both APIs take `{model, query, documents: [str], top_n}` with a bearer key and answer
`{results: [{index, relevance_score}, …]}`; Cohere serves it at `/v2/rerank`, Jina at
`/v1/rerank`. No cross-encoder's weights ship inside a package (issue 14 checked again), so a
reranking model is always a service: nothing is downloaded. Errors are the providers' family
(`projections/providers/errors.py`), the key never in a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import httpx
import msgspec

from projections.providers._common import parse_retry_after, status_error
from projections.providers.errors import (
    ProviderBadRequest,
    ProviderConfigError,
    ProviderUnavailable,
)

__all__ = ["RERANK_KINDS", "Reranker"]

RerankKind = Literal["cohere", "jina"]
RERANK_KINDS: dict[str, str] = {"cohere": "/v2/rerank", "jina": "/v1/rerank"}
"""Each kind and the path its API serves reranking at."""
_MAX_DOCUMENTS = 1000


class _Result(msgspec.Struct, frozen=True):
    index: int
    relevance_score: float


class _Answer(msgspec.Struct, frozen=True):
    results: list[_Result]


class Reranker:
    """One rerank service and model."""

    def __init__(
        self,
        *,
        kind: str,
        base_url: str,
        model: str,
        api_key: str | None,
        timeout_s: float = 30.0,
    ) -> None:
        if kind not in RERANK_KINDS:
            raise ProviderConfigError(
                kind, f"unknown rerank kind; one of {', '.join(RERANK_KINDS)}"
            )
        if not model.strip():
            raise ProviderConfigError(kind, "a rerank model must be named")
        if not base_url.startswith(("http://", "https://")):
            raise ProviderConfigError(
                kind, "the rerank base URL must start with http:// or https://"
            )
        self.kind = kind
        self.model = model
        self._key = api_key
        self._url = base_url.rstrip("/") + RERANK_KINDS[kind]
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(headers=headers, timeout=timeout_s)

    @property
    def name(self) -> str:
        """`<kind>:<model>`, as answers record models."""
        return f"{self.kind}:{self.model}"

    async def rerank(
        self, query: str, documents: Sequence[str], *, top_n: int
    ) -> list[tuple[int, float]]:
        """(index into `documents`, relevance) of the `top_n` most relevant, best first."""
        if not documents:
            return []
        if len(documents) > _MAX_DOCUMENTS:
            raise ProviderBadRequest(self.kind, f"at most {_MAX_DOCUMENTS} documents a request")
        body = {
            "model": self.model,
            "query": query,
            "documents": list(documents),
            "top_n": max(1, min(top_n, len(documents))),
        }
        try:
            response = await self._http.post(self._url, json=body)
        except httpx.HTTPError as e:
            raise ProviderUnavailable(
                self.kind, f"the rerank service could not be reached ({type(e).__name__})"
            ) from None
        if response.status_code >= 400:
            # The providers' one table of statuses (and of retry-after), as the LLMs use it.
            raise status_error(
                self.kind, response.status_code, response.text[:300], secret=self._key,
                retry_after=parse_retry_after(response.headers),
            )  # fmt: skip
        try:
            answer = msgspec.json.decode(response.content, type=_Answer)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise ProviderUnavailable(
                self.kind, "the rerank service answered in a shape it does not document"
            ) from None
        seen: set[int] = set()
        ranked = []
        for r in sorted(answer.results, key=lambda r: -r.relevance_score):
            if not 0 <= r.index < len(documents) or r.index in seen:
                raise ProviderUnavailable(
                    self.kind, f"the rerank service named document {r.index}, which was not sent"
                )
            seen.add(r.index)
            ranked.append((r.index, r.relevance_score))
        return ranked[:top_n]

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()
