"""Debate scores per round, from answers read out of stored messages (no engine, no store).

vote       the plurality of the round's answers; a tie goes to the tied answer given first, marked `tied`
accuracy   the share of agents that answered (a failed call is no answer; no answer line counts as wrong)
           whose answer is the correct one; per agent: whether it was right
distinct   how many different answers the round had
changed    conformity: of the agents that answered in this round and the one before, the share whose answer
           changed after seeing the others (None in round 0)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class RoundScore:
    round: int
    answers: tuple[tuple[int, str | None], ...]
    """(agent, answer) of every agent that spoke in the round; None: no answer found."""
    vote: str | None
    tied: bool
    correct: bool
    """The vote is the right answer."""
    accuracy: float
    distinct: int
    changed: float | None

    def answer_of(self, agent: int) -> str | None:
        return dict(self.answers).get(agent)


def majority(answers: list[str | None]) -> tuple[str | None, bool]:
    """(plurality answer, tied); answers in the order given; None entries do not vote."""
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None, False
    top = max(counts.values())
    leaders = [a for a in counts if counts[a] == top]  # Counter keeps first-seen order
    return leaders[0], len(leaders) > 1


def score_rounds(answers: Iterable[tuple[int, int, str | None]], correct: str) -> list[RoundScore]:
    """`answers`: (round, agent, answer) in transcript order, failed calls left out (None: no answer found). An
    agent with two messages in a round counts with its last one."""
    spoke: dict[int, dict[int, str | None]] = {}
    for round_, agent, answer in answers:
        spoke.setdefault(round_, {}).pop(agent, None)
        spoke[round_][agent] = answer
    out: list[RoundScore] = []
    before: dict[int, str | None] = {}
    for r in sorted(spoke):
        now = spoke[r]
        vote, tied = majority(list(now.values()))
        both = [a for a in now if now[a] is not None and before.get(a) is not None]
        changed = sum(now[a] != before[a] for a in both) / len(both) if both and r > 0 else None
        out.append(RoundScore(
            round=r, answers=tuple(sorted(now.items())), vote=vote, tied=tied, correct=vote == correct,
            accuracy=sum(a == correct for a in now.values()) / len(now) if now else 0.0,
            distinct=len({a for a in now.values() if a is not None}), changed=changed))
        before = now
    return out


def summarise(runs: list[tuple[str, list[RoundScore], dict[int, str], str]]) -> list[dict]:
    """Per group (series, with its roles) and round: runs, vote accuracy, mean agent accuracy, mean distinct
    answers, mean changed share; and each agent's accuracy per round. `runs`: (group, scores, agent names,
    the correct answer)."""
    rows: dict[tuple[str, int], dict] = {}
    for label, scores, names, truth in runs:
        for s in scores:
            row = rows.setdefault((label, s.round), {"group": label, "round": s.round, "runs": 0, "votes": 0,
                                                     "accuracy": [], "distinct": [], "changed": [], "agents": {}})
            row["runs"] += 1
            row["votes"] += s.correct
            row["accuracy"].append(s.accuracy)
            row["distinct"].append(s.distinct)
            if s.changed is not None:
                row["changed"].append(s.changed)
            for agent, answer in s.answers:
                row["agents"].setdefault(names.get(agent, str(agent)), []).append(answer == truth)

    def mean(xs: list) -> float | None:
        return sum(xs) / len(xs) if xs else None

    return [{"group": r["group"], "round": r["round"], "runs": r["runs"], "vote_accuracy": r["votes"] / r["runs"],
             "accuracy": mean(r["accuracy"]), "distinct": mean(r["distinct"]), "changed": mean(r["changed"]),
             "agents": {name: mean(v) for name, v in sorted(r["agents"].items())}}
            for _, r in sorted(rows.items())]
