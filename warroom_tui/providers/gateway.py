"""One gateway for every model: the simulator and the bundled models directly, every other model through
litellm (imported lazily, only when such a model is called: it costs seconds and about 150 MB)."""

from __future__ import annotations

import asyncio
import gc
import os
import re
from contextlib import aclosing
from typing import AsyncGenerator, AsyncIterator

from warroom_tui.modelid import is_simulated
from warroom_tui.providers import simulator
from warroom_tui.providers.base import ModelCall, ProviderError
from warroom_tui.providers.local import LocalModels, is_local
from warroom_tui.providers.openai_stream import INCOMPLETE, PERMANENT_STATUS, OpenAIStream
from warroom_tui.providers.secrets import Redactor

_litellm = None

MAX_ERROR = 400
"""Characters of a provider's error text kept."""
PERMANENT_HINTS = ("decommissioned", "does not exist", "not found", "no longer supported", "invalid api key",
                   "authentication", "permission", "unknown model")


def load_litellm():
    """Import litellm once, offline."""
    global _litellm
    if _litellm is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_LOG", "ERROR")
        import litellm

        litellm.suppress_debug_info = True
        litellm.telemetry = False
        litellm.disable_streaming_logging = True  # per-chunk logging threads cost more than a local model's chunk
        gc.freeze()  # litellm's many long-lived objects: keep them out of every later full collection
        _litellm = litellm
    return _litellm


def classify(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc).lower()
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) or "timeout" in name.lower() or "timed out" in text \
            or "timeout on reading" in text:
        return "timeout"
    if name in ("NotFoundError", "AuthenticationError", "PermissionDeniedError", "BadRequestError") or any(
        h in text for h in PERMANENT_HINTS
    ) or getattr(exc, "status", None) in PERMANENT_STATUS:
        return "permanent"
    return "transient"


def retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        value = headers.get("retry-after") or headers.get("Retry-After")
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class Gateway:
    """Streams replies from the simulator, bundled local models and any litellm model."""

    def __init__(self, *, retries: int = 3, backoff: float = 1.0, sim_pace: float = 0.0,
                 local: LocalModels | None = None, threads: int | None = None) -> None:
        self.retries = retries
        self.backoff = backoff
        self.sim_pace = sim_pace
        self.local = local or LocalModels(threads=threads)
        self.direct = OpenAIStream()

    def context_window(self, model: str) -> int | None:
        if is_local(model):
            return self.local.spec(model).ctx_per_slot
        return None

    def model_kind(self, model: str) -> str:
        if is_local(model):
            return self.local.spec(model).kind
        return "chat"

    async def prepare(self, models: list[str]) -> None:
        """Import litellm (if a model needs it) and start the bundled model servers a run needs, before it starts."""
        if any(_needs_litellm(m) for m in models):
            await asyncio.to_thread(load_litellm)
        wanted: dict[str, tuple[str, int]] = {}  # server -> (a model id it serves, slots: one per agent)
        for m in models:
            if is_local(m):
                key = self.local.spec(m).key  # two ids naming one file share its server
                first, slots = wanted.get(key, (m, 0))
                wanted[key] = (first, slots + 1)
        self.local.plan({key: slots for key, (_, slots) in wanted.items()})
        for model, slots in wanted.values():
            await self.local.ensure(model, slots=slots)

    async def stream(self, call: ModelCall) -> AsyncGenerator[str, None]:
        """The reply, with every configured key scrubbed from it and from any error (secrets.py): what a model
        or a provider sends back is stored, shown and put in other agents' prompts."""
        scrub = Redactor()
        reply = scrub.stream()
        try:
            async with aclosing(self._stream(call, scrub)) as pieces:
                async for piece in pieces:
                    piece = reply.feed(piece)
                    if piece:
                        yield piece
        except ProviderError as exc:
            raise ProviderError(exc.kind, scrub(exc.message)[:MAX_ERROR]) from None
        tail = reply.flush()
        if tail:
            yield tail

    async def _stream(self, call: ModelCall, scrub: Redactor) -> AsyncGenerator[str, None]:
        if is_simulated(call.model):
            async for piece in simulator.stream(call, self.sim_pace):
                yield piece
            return
        litellm = None
        if _needs_litellm(call.model):
            litellm = await asyncio.to_thread(load_litellm) if _litellm is None else _litellm
        attempt = 0
        while True:
            yielded = False
            try:
                if litellm is None:  # a bundled model: each try, a server that died is started again
                    server = await self.local.ensure(call.model)
                    pieces = self.direct.stream(call, server.api_base, server.alias)
                else:
                    pieces = self._once(litellm, call, self._route(call))
                async for piece in pieces:
                    yielded = True
                    yield piece
                return
            except ProviderError:
                raise
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # litellm and httpx raise many kinds; sort them
                kind = classify(exc)
                if kind == "transient" and not yielded and attempt < self.retries:
                    wait = retry_after(exc) or self.backoff * (2 ** attempt)
                    attempt += 1
                    await asyncio.sleep(min(wait, 60.0))
                    continue
                raise ProviderError(kind, _short(exc, scrub)) from None

    def _route(self, call: ModelCall) -> dict:
        kwargs: dict = {"model": call.model}
        if call.api_base:
            kwargs["api_base"] = call.api_base
        return kwargs

    async def _once(self, litellm, call: ModelCall, kwargs: dict) -> AsyncIterator[str]:
        common = dict(kwargs, stream=True, temperature=call.temperature, max_tokens=call.max_tokens,
                      timeout=call.timeout, max_retries=0)  # retries are ours: one policy for every provider
        if call.seed is not None:
            common["seed"] = call.seed
        if call.stop:
            common["stop"] = call.stop
        if call.prompt is not None:
            if common["model"].startswith("openai/"):
                common["model"] = "text-completion-openai/" + common["model"].removeprefix("openai/")
            response = await litellm.atext_completion(prompt=call.prompt, **common)
            async for chunk in response:
                text = chunk.choices[0].text if chunk.choices else ""
                if text:
                    yield text
            if not _finished(response):
                raise ProviderError("transient", INCOMPLETE)
            return
        messages = call.messages if call.messages is not None else [{"role": "user", "content": call.prompt or ""}]
        response = await litellm.acompletion(messages=messages, **common)
        async for chunk in response:
            delta = chunk.choices[0].delta if chunk.choices else None
            text = getattr(delta, "content", None) if delta is not None else None
            if text:
                yield text
        if not _finished(response):  # a stream cut off (connection reset) must not pass for a whole reply
            raise ProviderError("transient", INCOMPLETE)

    async def aclose(self) -> None:
        await self.direct.aclose()
        await self.local.aclose()


def _needs_litellm(model: str) -> bool:
    return not (is_simulated(model) or is_local(model))


def _finished(response) -> bool:
    """Did the provider itself say the reply was over? (litellm invents a finish reason when a stream is
    cut off; the one the provider sent is kept apart.)"""
    wrapper = response if hasattr(response, "received_finish_reason") else getattr(response, "completion_stream", None)
    if wrapper is None or not hasattr(wrapper, "received_finish_reason"):
        return True  # nothing to tell by
    return bool(wrapper.received_finish_reason or getattr(wrapper, "intermittent_finish_reason", None))


def _short(exc: BaseException, scrub: Redactor) -> str:
    """One line of an exception's text: scrubbed first, then cut (a cut could leave part of a key behind)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = re.sub(r"^litellm\.\w+: ", "", text)
    return scrub(text)[:MAX_ERROR]
