"""What a model is sent: the study's system prompts and the chat as it saw it.

The study's strings (arXiv 2604.00026):
  full        "You are {nickname} in a group chat.\\nOther agents: {others}"
  no-peers    "You are {nickname} in a group chat."            (K1)
  no-identity "Other agents: {others}"                         (K2)
  empty       no system prompt at all                          (K3)
  isolated    "You are an AI assistant." and only the brief    (F)

An agent's own consecutive messages are sent as one assistant turn, and when the chat would end on
the agent's own turn (nobody else spoke since), the round marker follows as a user turn: chat
templates (llama.cpp's among them) refuse two assistant turns in a row or read a final one as a
reply to continue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from warroom_tui.engine.transcript import Message
from warroom_tui.providers.base import ChatContext

IDENTITY = "You are {nickname} in a group chat."
PEERS = "Other agents: {others}"
ISOLATED = "You are an AI assistant."
ERROR_MARK = "⚠"
FRENCH = re.compile(r"\b(on|un|une|des|les|pour|avec|est|qui|veut|ville|nous|vous)\b", re.IGNORECASE)


def system_prompt(scaffolding: str, nickname: str, others: list[str]) -> str:
    peers = PEERS.format(others=", ".join(others))
    identity = IDENTITY.format(nickname=nickname)
    if scaffolding == "full":
        return f"{identity}\n{peers}"
    if scaffolding == "no-peers":
        return identity
    if scaffolding == "no-identity":
        return peers
    if scaffolding == "empty":
        return ""
    if scaffolding == "isolated":
        return ISOLATED
    raise ValueError(f"unknown scaffolding {scaffolding!r}")


@dataclass
class PromptView:
    """One agent's view of the chat at the start of its call."""

    me: int
    nicknames: list[str]
    scaffolding: str
    role: str = ""
    """An assigned role's prompt line, added to the system prompt ("" under roles = none)."""


def language(brief: str) -> str:
    """`fr` or `en`: the brief's language (the study's briefs are in one or the other)."""
    return "fr" if len(FRENCH.findall(brief)) >= 3 else "en"


def chat_context(view: PromptView, transcript: list[Message], round_: int, naming: str, lang: str,
                 tags: list[tuple[str, str]] | None = None) -> ChatContext:
    """The facts of one call, as structured data: who speaks, who else is there, who spoke and who crashed in
    the chat it is shown; with `tags` (each agent's family and recipe), its own and its partner's (the other
    agent whose message it saw last)."""
    latest: dict[int, Message] = {}
    partner: int | None = None
    for msg in transcript:
        if msg.agent is not None and msg.agent != view.me and (msg.visible or not msg.is_error):
            latest[msg.agent] = msg
            if not msg.is_error:
                partner = msg.agent
    nicks = view.nicknames
    mine = tags[view.me] if tags else ("", "")
    theirs = tags[partner] if tags and partner is not None else ("", "")
    return ChatContext(
        me=nicks[view.me], others=tuple(n for i, n in enumerate(nicks) if i != view.me),
        spoke=tuple(nicks[i] for i in latest), crashed=tuple(nicks[i] for i, m in latest.items() if m.is_error),
        naming=naming, scaffolding=view.scaffolding, lang=lang, round=round_, family=mine[0], recipe=mine[1],
        partner=nicks[partner] if partner is not None else None, partner_family=theirs[0],
        partner_recipe=theirs[1])


def chat_turns(view: PromptView, transcript: list[Message]) -> list[dict]:
    """The chat as user/assistant turns: peers as user turns `[Name]: text`, own lines as assistant."""
    turns: list[dict] = []
    for msg in transcript:
        if msg.sender == "system":
            continue
        if msg.sender == "user":
            text = msg.text if msg.seq == 0 else f"[User]: {msg.text}"
            turns.append({"role": "user", "content": text})
            if view.scaffolding == "isolated":
                break  # alone with the brief: no group context
            continue
        if view.scaffolding == "isolated":
            continue
        if msg.is_error:
            if msg.agent != view.me and msg.visible and msg.text:
                turns.append({"role": "user", "content": f"[{_name(view, msg)}]: {msg.text}"})
            continue
        if msg.agent == view.me:
            turns.append({"role": "assistant", "content": msg.text})
        else:
            turns.append({"role": "user", "content": f"[{_name(view, msg)}]: {msg.text}"})
    return turns


def _name(view: PromptView, msg: Message) -> str:
    if msg.agent is not None and msg.agent < len(view.nicknames):
        return view.nicknames[msg.agent]
    return msg.nickname


def chat_messages(view: PromptView, transcript: list[Message], round_: int | None = None) -> list[dict]:
    others = [n for i, n in enumerate(view.nicknames) if i != view.me]
    system = "\n".join(p for p in (system_prompt(view.scaffolding, view.nicknames[view.me], others), view.role) if p)
    turns: list[dict] = []
    for turn in chat_turns(view, transcript):
        if turns and turn["role"] == "assistant" and turns[-1]["role"] == "assistant":
            turns[-1] = {"role": "assistant", "content": turns[-1]["content"] + "\n\n" + turn["content"]}
        else:
            turns.append(turn)
    if turns and turns[-1]["role"] == "assistant":
        turns.append({"role": "user", "content": f"— Round {(round_ or 0) + 1} —"})
    return ([{"role": "system", "content": system}] if system else []) + turns


def completion_prompt(messages: list[dict], me: str) -> tuple[str, list[str]]:
    """Chat messages as a transcript-style prompt for base (non-chat) models, with stop sequences."""
    lines: list[str] = []
    for turn in messages:
        content = turn["content"]
        if turn["role"] == "system":
            lines += [content, ""]
            continue
        if turn["role"] == "assistant":
            content = f"[{me}]: {content}"
        elif not content.startswith("["):
            content = f"[User]: {content}"
        lines.append(content)
    lines.append(f"[{me}]:")
    return "\n".join(lines), ["\n[", "\n\n\n"]


def estimate_tokens(text: str) -> int:
    """A cautious token estimate (about 3 characters a token across English and French)."""
    return len(text) // 3 + 4


def fit_context(messages: list[dict], budget: int) -> tuple[list[dict], int]:
    """Drop the oldest chat turns (never the system prompt or the brief) until the prompt fits."""
    head = 0
    while head < len(messages) and messages[head]["role"] == "system":
        head += 1
    head = min(head + 1, len(messages))  # keep the brief
    kept = list(messages)
    dropped = 0
    while sum(estimate_tokens(m["content"]) for m in kept) > budget and len(kept) > head + 1:
        del kept[head]
        dropped += 1
    return kept, dropped
