"""The study's coded CSV (coded_v4_*.csv): one row per agent message, flags as 'True'/'False'."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from warroom_tui.store.db import Store
from warroom_tui.store.rows import RunRow
from warroom_tui.store.study_json import export_name

STUDY_FLAGS = ("phatic", "meta", "lead", "arch", "agree", "comp")
FRENCH = re.compile(r"\b(le|la|les|des|une|est|nous|vous|pour|avec|que|qui|sur|dans|je)\b", re.I)
ENGLISH = re.compile(r"\b(the|and|is|are|we|you|for|with|that|this|on|in|to|i)\b", re.I)


def detect_lang(text: str) -> str:
    fr, en = len(FRENCH.findall(text)), len(ENGLISH.findall(text))
    return "fr" if fr > en else "en"


def run_label(run: RunRow) -> str:
    if run.source == "import" and run.source_file:
        stem = Path(run.source_file).stem
        prefix = f"warroom-{run.series}-"
        return f"{run.series}-{stem.removeprefix(prefix)}"
    return f"{run.series}-{run.uid.removeprefix(run.series + '-')}"


def columns(flags: list[str]) -> list[str]:
    extra = [f"is_{f}" for f in flags if f not in STUDY_FLAGS and f != "has_xref"]
    return (["id", "series", "file", "nickname", "agent", "round"] + [f"is_{f}" for f in STUDY_FLAGS]
            + ["comp_level", "has_xref", "lang", "text"] + extra)


async def coded_rows(store: Store, coder_id: int, flags: list[str]) -> list[dict]:
    labels = await store.labels(coder_id)
    rows = []
    for run in await store.runs():
        agents = await store.agents(run.id)
        by_seq = await store.message_ids(run.id)
        for m in await store.messages(run.id):
            mid = by_seq.get(m.seq)
            if m.agent is None or mid not in labels:
                continue
            got = labels[mid]
            row = {
                "id": f"{run_label(run)}|{m.nickname}|R{m.round}", "series": run.series, "file": export_name(run),
                "nickname": m.nickname, "agent": agents[m.agent].name, "round": m.round,
                "comp_level": got.get("comp", (False, ""))[1],
                "has_xref": str(got.get("has_xref", (False, ""))[0]),
                "lang": m.language or detect_lang(m.text), "text": m.text,
            }
            for f in flags:
                if f != "has_xref":
                    row[f"is_{f}"] = str(got.get(f, (False, ""))[0])
            for f in STUDY_FLAGS:
                row.setdefault(f"is_{f}", "False")
            rows.append(row)
    return rows


async def write_coded_csv(store: Store, coder_id: int, flags: list[str], path: Path) -> int:
    rows = await coded_rows(store, coder_id, flags)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns(flags), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
