"""A run as Markdown. Model text is untrusted: each message goes in a fence it cannot close."""

from __future__ import annotations

import re

from warroom_tui.engine.transcript import Message, clean_text, marker_label
from warroom_tui.store.rows import AgentRow, EventRow, RunRow


def fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+|~+", text)), default=0)
    bar = "`" * max(3, longest + 1)
    return f"{bar}text\n{text}\n{bar}"


def _plain(text: str) -> str:
    """A one-line label (names, models): no Markdown or HTML control characters."""
    return re.sub(r"[\\`*_{}\[\]<>()#+!|~]", lambda m: "\\" + m.group(0), " ".join(clean_text(text).split()))


def run_markdown(run: RunRow, agents: list[AgentRow], messages: list[Message],
                 events: list[EventRow] | None = None) -> str:
    lines = [f"# Run {_plain(run.uid)}", ""]
    lines.append(f"- scenario: {_plain(run.scenario)} (series {_plain(run.series)})")
    lines.append(f"- status: {_plain(run.status.value)}")
    if run.simulated:
        lines.append("- **SIMULATED agents: scripted personas, not real models**")
    lines.append("")
    lines.append("| nickname | model | family | base | recipe |")
    lines.append("|---|---|---|---|---|")
    for a in agents:
        lines.append(f"| {_plain(a.nickname)} | {_plain(a.model)} | {_plain(a.family)} | {_plain(a.base)} | {_plain(a.recipe)} |")
    lines.append("")
    changes: dict[int, list[EventRow]] = {}
    for e in events or []:
        if e.kind == "condition" and e.seq is not None:
            changes.setdefault(e.seq, []).append(e)
    nicks = [a.nickname for a in agents]

    def change_lines(e: EventRow) -> list[str]:
        who = f" for {nicks[e.agent]}" if e.agent is not None and e.agent < len(nicks) else ""
        return [f"> condition {_plain(e.field + who)}: {_plain(str(e.old))} -> {_plain(str(e.new))}"
                f" (from round {e.round})", ""]

    for m in messages:
        for e in changes.pop(m.seq, []):
            lines += change_lines(e)
        if m.sender == "system":
            lines += [f"## {_plain(marker_label(m))}", ""]
            continue
        who = "User" if m.sender == "user" else f"{m.nickname} ({m.name})"
        head = f"**{_plain(who)}**" + (f" · round {m.round}" if m.round is not None else "")
        if m.is_error:
            head += f" · error ({_plain(m.error_kind)})"
        lines += [head, "", fence(clean_text(m.text)), ""]
    for seq in sorted(changes):  # made after the last message so far
        for e in changes[seq]:
            lines += change_lines(e)
    return "\n".join(lines)
