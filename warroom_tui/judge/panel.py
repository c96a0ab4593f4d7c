"""A panel of judges as one judge: every member codes, the panel adjudicates (as the study did)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import AsyncIterator, Sequence

from warroom_tui.judge.codebook import Codebook
from warroom_tui.judge.types import Coding, Judge, JudgeFailure, Roster, Verdict

MODES = ("intersection", "union")
"""intersection: a flag holds when every member says so (the study's conservative panel); union: when any does."""


def combine(codings: Sequence[Coding], mode: str, flags: Sequence[str]) -> Coding:
    """The panel's coding from its members': per flag all (intersection) or any (union); the most common level."""
    out = Coding(flags={})
    for f in flags:
        values = [c.flags.get(f, False) for c in codings]
        out.flags[f] = all(values) if mode == "intersection" else any(values)
        levels = sorted(level for c in codings if (level := c.levels.get(f, "")))
        if out.flags[f] and levels:
            out.levels[f] = Counter(levels).most_common(1)[0][0]
    return out


class Panel:
    kind = "adjudicated"

    def __init__(self, members: Sequence[Judge], mode: str, codebook: Codebook) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown panel mode {mode!r}")
        self.members = list(members)
        self.mode = mode
        self.codebook = codebook
        self.name = f"panel-{mode}@{codebook.name}"

    async def code(self, text: str, roster: Roster) -> Coding:
        codings = await asyncio.gather(*(m.code(text, roster) for m in self.members))  # a member's failure is ours
        return combine(codings, self.mode, self.codebook.ids)

    async def code_many(self, jobs: Sequence[tuple[str, Roster]]) -> AsyncIterator[list[Verdict]]:
        per_member = [[v async for part in m.code_many(jobs) for v in part] for m in self.members]
        out: list[Verdict] = []
        for verdicts in zip(*per_member):
            failed = next((v for v in verdicts if isinstance(v, JudgeFailure)), None)
            out.append(failed if failed is not None else
                       combine([v for v in verdicts if isinstance(v, Coding)], self.mode, self.codebook.ids))
        yield out

    async def aclose(self) -> None:
        for m in self.members:
            await m.aclose()
