"""The simulator in a debate: each persona answers correctly with a propensity of its own, and can be swayed.

A model id `sim/<persona>@<p>` sets the propensity p (0..1) to answer a task correctly; without `@p` the
persona's default below. In later rounds a generator (or an agent without a role) takes the critics' answer
when they disagree with it (probability SWAY), else joins the majority when it is in the minority (CONFORM);
a wrong answer persuades it less the better it is (times 1 - p);
a critic reviews every named answer against its own and rethinks a wrong answer of its own with half its
propensity. It reads only the call's DebateFacts, never the prompt.
"""

from __future__ import annotations

import random
import zlib
from collections import Counter

from warroom_tui.providers.base import ChatContext, DebateFacts

ACCURACY = {"architect": 0.6, "coordinator": 0.5, "supporter": 0.4, "analyst": 0.8, "summarizer": 0.5,
            "lurker": 0.3, "skeptic": 0.7}
DEFAULT_ACCURACY = 0.5
SWAY = 0.6
"""A critic that disagrees moves a generator to the critic's answer this often."""
CONFORM = 0.3
"""An agent whose answer is in the minority moves to the majority this often."""
REASONS = {"en": ["Let me work it out step by step.", "I checked it twice.", "Quick calculation here.",
                  "Here is my reasoning, briefly."],
           "fr": ["Je le calcule étape par étape.", "J'ai vérifié deux fois.", "Petit calcul ici.",
                  "Voici mon raisonnement, en bref."]}
VERDICT = {"en": ("{peer} says {a}: right.", "{peer} says {a}: wrong.", "{peer} gave no answer."),
           "fr": ("{peer} dit {a} : juste.", "{peer} dit {a} : faux.", "{peer} n'a pas répondu.")}


def split(persona: str) -> tuple[str, float | None]:
    """`analyst@0.9` -> ("analyst", 0.9); a malformed propensity is ignored."""
    name, _, p = persona.partition("@")
    try:
        value = float(p) if p else None
    except ValueError:
        value = None
    return name, None if value is None else min(1.0, max(0.0, value))


def propensity(persona: str) -> float:
    name, p = split(persona)
    return p if p is not None else ACCURACY.get(name, DEFAULT_ACCURACY)


def choose(persona: str, ctx: ChatContext, d: DebateFacts, rng: random.Random) -> str:
    p = propensity(persona)

    def fresh() -> str:
        return d.answer if rng.random() < p else rng.choice(d.distractors)

    if d.own is None:
        return fresh()
    if ctx.role == "critic":
        if d.own != d.answer and rng.random() < p / 2:
            return d.answer
        return d.own
    def moved(to: str, chance: float) -> bool:  # a right answer persuades as often as `chance`; a wrong one
        return rng.random() < (chance if to == d.answer else chance * (1 - p))  # less, the better the agent

    critics = Counter(a for _, a, kind in d.peers if kind == "critic" and a is not None)
    if critics:
        top = critics.most_common(1)[0][0]
        if top != d.own and moved(top, SWAY):
            return top
    everyone = Counter([d.own] + [a for _, a, _ in d.peers if a is not None])
    leader, count = everyone.most_common(1)[0]
    if leader != d.own and count > everyone[d.own] and moved(leader, CONFORM):
        return leader
    return d.own


def reply(persona: str, ctx: ChatContext, seed: int | None) -> str:
    d = ctx.debate
    assert d is not None
    if d.summarise:
        return " ".join(f"{peer}: {a if a is not None else 'no answer'}." for peer, a, _ in d.peers) or "No answers."
    rng = random.Random(zlib.crc32(f"{persona}|{seed}|{d.task}|{ctx.round}|{ctx.me}".encode()))
    answer = choose(persona, ctx, d, rng)
    lang = ctx.lang if ctx.lang in REASONS else "en"
    lines = [rng.choice(REASONS[lang])]
    if ctx.role == "critic":
        right, wrong, none = VERDICT[lang]
        for peer, a, _ in d.peers:
            lines.append(none.format(peer=peer) if a is None else (right if a == answer else wrong).format(peer=peer, a=a))
    return " ".join(lines) + f"\nAnswer: {answer}"
