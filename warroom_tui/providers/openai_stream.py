"""A small streaming client for OpenAI-compatible servers: the bundled models' xllamacpp servers on
127.0.0.1 go through it instead of litellm (which costs seconds and about 150 MB to import).

Errors are raised for the gateway to sort (`classify`, `retry_after`): an HTTP error status as
`StatusError`, httpx's own errors as they come (their names say timeout or not), a malformed chunk
as `ValueError`; a stream that ends before the server sent a finish reason raises ProviderError.
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterator

from warroom_tui.providers.base import ModelCall, ProviderError

INCOMPLETE = "the reply stream ended before the model finished (connection lost)"
PERMANENT_STATUS = {400, 401, 403, 404}


class StatusError(Exception):
    def __init__(self, status: int, text: str, response: Any) -> None:
        super().__init__(f"HTTP {status}: {text}")
        self.status = status
        self.response = response  # its headers carry Retry-After


class OpenAIStream:
    """One connection pool for every call; `aclose` when the run ends."""

    def __init__(self) -> None:
        self._client: Any = None

    async def stream(self, call: ModelCall, api_base: str, model: str) -> AsyncIterator[str]:
        import httpx  # only when a bundled model is called

        if self._client is None:
            self._client = httpx.AsyncClient()
        body: dict[str, Any] = {"model": model, "stream": True, "temperature": call.temperature,
                                "max_tokens": call.max_tokens}
        if call.seed is not None:
            body["seed"] = call.seed
        if call.stop:
            body["stop"] = call.stop
        if call.prompt is not None:
            url, body["prompt"] = f"{api_base}/completions", call.prompt
        else:
            url, body["messages"] = f"{api_base}/chat/completions", call.messages or []
        async with self._client.stream("POST", url, json=body, timeout=httpx.Timeout(call.timeout)) as response:
            if response.status_code >= 400:
                text = (await response.aread()).decode("utf-8", "replace")
                raise StatusError(response.status_code, _error_text(text), response)
            finished = False
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                choice = (json.loads(data).get("choices") or [{}])[0]  # ValueError when malformed
                delta = choice.get("delta") or {}
                text = choice.get("text") if call.prompt is not None else delta.get("content")
                if text:
                    yield text
                finished = finished or bool(choice.get("finish_reason"))
        if not finished:
            raise ProviderError("transient", INCOMPLETE)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _error_text(text: str) -> str:
    try:
        error = json.loads(text).get("error")
        return str(error.get("message") if isinstance(error, dict) else error or text)
    except (ValueError, AttributeError):
        return text
