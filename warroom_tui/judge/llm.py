"""LLM judges: any litellm model codes a message from the codebook, answering in validated JSON."""

from __future__ import annotations

import asyncio
import json
import re
from typing import AsyncIterator, Optional, Sequence

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from warroom_tui.judge.builtin import BuiltinCoder, names_crashed, read
from warroom_tui.judge.codebook import Codebook
from warroom_tui.judge.types import Coding, JudgeFailure, Roster, Verdict
from warroom_tui.providers.base import JudgeContext, ModelCall, ProviderError

JUDGE_MARK = "You are a coder for a study of multi-agent group chats."
REFUSAL = re.compile(r"\b(i can.?t|i cannot|i.m sorry|i am sorry|je ne peux pas|unable to comply|as an ai)\b", re.I)


def answer_model(codebook: Codebook) -> type[BaseModel]:
    fields: dict[str, tuple[object, object]] = {f.id: (bool, ...) for f in codebook.flags}
    fields["comp_level"] = (Optional[str], None)
    return create_model("JudgeAnswer", __config__=ConfigDict(extra="ignore"), **fields)  # type: ignore[call-overload]


def system_prompt(codebook: Codebook) -> str:
    lines = [JUDGE_MARK, "Code the message below with this codebook. A flag is true only when the message clearly shows it.", ""]
    for f in codebook.flags:
        lines.append(f"- {f.id} ({f.name}): {f.description}")
    template = ", ".join(f'"{f.id}": true|false' for f in codebook.flags)
    lines += ["", "Answer with one JSON object and nothing else:",
              "{" + template + ', "comp_level": "L1"|"L2"|"L3"|null}']
    return "\n".join(lines)


def user_prompt(body: str, roster: Roster) -> str:
    """`body`: the message as the judge reads it (cut to the codebook's reading window)."""
    who = [" / ".join(a[:2]) for a in roster.aliases]
    speaker = who[roster.speaker] if roster.speaker is not None else "unknown"
    crashed = ", ".join(who[i] for i in sorted(roster.crashed)) or "none"
    return (f"Agents in the chat: {', '.join(who)}\nSpeaker: {speaker}\nCrashed agent(s): {crashed}\n\n"
            f"Message:\n<<<\n{body}\n>>>")


def parse_answer(raw: str, model: type[BaseModel]) -> BaseModel:
    match = re.search(r"\{.*\}", raw, re.DOTALL) or re.search(r"\{.*", raw, re.DOTALL)
    if match is None:
        if REFUSAL.search(raw):
            raise JudgeFailure(f"refused: {' '.join(raw.split())[:120]}")
        raise JudgeFailure(f"no JSON in the answer: {' '.join(raw.split())[:120]}")
    try:
        return model.model_validate(json.loads(match.group(0)))
    except json.JSONDecodeError as exc:
        raise JudgeFailure(f"malformed JSON: {exc.msg} at column {exc.colno}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        raise JudgeFailure(f"invalid answer: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


class LLMJudge:
    """Codes one message at a time through the gateway; retries, then gives up with a reason."""

    kind = "llm"

    def __init__(self, model: str, codebook: Codebook, gateway, *, retries: int = 2, timeout: float = 60.0,
                 max_tokens: int = 300, concurrency: int = 4, owns_gateway: bool = False) -> None:
        self.model = model
        self.concurrency = concurrency
        self.owns_gateway = owns_gateway
        self.codebook = codebook
        self.gateway = gateway
        self.retries = retries
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.answer = answer_model(codebook)
        self.system = system_prompt(codebook)
        self._filter = BuiltinCoder(codebook)
        self.name = f"{model}@{codebook.name}"

    async def code(self, text: str, roster: Roster) -> Coding:
        window = self.codebook.reading_window
        body = text[:window] if window else text
        messages = [{"role": "system", "content": self.system}, {"role": "user", "content": user_prompt(body, roster)}]
        context = JudgeContext(flags=tuple(self.codebook.ids), text=body)
        reason = ""
        for attempt in range(self.retries + 1):
            call = ModelCall(model=self.model, messages=messages, temperature=0.0, max_tokens=self.max_tokens,
                             timeout=self.timeout, seed=attempt, context=context)
            try:
                async with asyncio.timeout(self.timeout):
                    raw = "".join([piece async for piece in self.gateway.stream(call)])
                answer = parse_answer(raw, self.answer)
            except (JudgeFailure, ProviderError) as exc:
                reason = str(exc) if isinstance(exc, JudgeFailure) else f"{exc.kind}: {exc.message}"
                if reason.startswith("refused") or (isinstance(exc, ProviderError) and exc.kind == "permanent"):
                    break
                continue
            except TimeoutError:
                reason = f"timeout after {self.timeout:g} s"
                continue
            return self._coding(answer, text, roster)
        raise JudgeFailure(reason or "no answer")

    async def code_many(self, jobs: Sequence[tuple[str, Roster]]) -> AsyncIterator[list[Verdict]]:
        """`concurrency` calls at a time, yielded fifty messages at a time."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(text: str, roster: Roster) -> Verdict:
            async with gate:
                try:
                    return await self.code(text, roster)
                except JudgeFailure as exc:
                    return exc

        for start in range(0, len(jobs), 50):
            yield list(await asyncio.gather(*(one(t, r) for t, r in jobs[start:start + 50])))

    async def aclose(self) -> None:
        if self.owns_gateway:
            await self.gateway.aclose()

    def _coding(self, answer: BaseModel, text: str, roster: Roster) -> Coding:
        flags = {f.id: bool(getattr(answer, f.id)) for f in self.codebook.flags}
        levels = {}
        level = getattr(answer, "comp_level", None)
        comp = next((f for f in self.codebook.flags if f.kind == "crashed"), None)
        if comp is not None and flags.get(comp.id):
            if broadcast_only(self._filter, comp, text, roster):
                flags[comp.id] = False  # the study's filter: an @-list of everyone is not compensation
            elif level in ("L1", "L2", "L3"):
                levels[comp.id] = level
        return Coding(flags=flags, levels=levels)


def broadcast_only(coder: BuiltinCoder, flag, text: str, roster: Roster) -> bool:
    """True when the crashed agent is named only inside broadcast @-lists (or not at all)."""
    return not names_crashed(flag, read(text, roster, coder.codebook.reading_window), roster)
