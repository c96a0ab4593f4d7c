"""Counts in words ("1 run", "2 runs"), and the mark of what is simulated."""


def counted(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


SIM_MARK = " (sim)"
"""Appended to the series and agent names of simulated runs when they are included: never pooled with real ones."""
