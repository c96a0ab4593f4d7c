"""The study's coded CSV (coded_v4_*.csv): one row per agent message, flags as 'True'/'False'.

Columns come from the codebook: `is_<flag>` for each coded flag, `<flag>_level` for a flag with levels
and the structural cross-reference flag by its own id (`has_xref`); with codebook v4 that is the study's
column order. Simulated runs are left out unless asked for; then a `simulated` column says which rows are.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from warroom_tui.judge.codebook import Codebook
from warroom_tui.outfiles import write_whole
from warroom_tui.store.db import Store
from warroom_tui.store.rows import RunRow
from warroom_tui.store.study_json import export_name

FRENCH = re.compile(r"\b(le|la|les|des|une|est|nous|vous|pour|avec|que|qui|sur|dans|je)\b", re.I)
ENGLISH = re.compile(r"\b(the|and|is|are|we|you|for|with|that|this|on|in|to|i)\b", re.I)
SAFE = re.compile(r"[A-Za-z0-9._@+-]")


def detect_lang(text: str) -> str:
    fr, en = len(FRENCH.findall(text)), len(ENGLISH.findall(text))
    return "fr" if fr > en else "en"


def file_part(name: str) -> str:
    """A coder name as part of a file name: every other character escaped as %XX, so two names never collide."""
    return "".join(c if SAFE.fullmatch(c) else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
                   for c in name)


def run_label(run: RunRow) -> str:
    if run.source == "import" and run.source_file:
        stem = Path(run.source_file).stem
        prefix = f"warroom-{run.series}-"
        return f"{run.series}-{stem.removeprefix(prefix)}"
    return f"{run.series}-{run.uid.removeprefix(run.series + '-')}"


def _flag_columns(codebook: Codebook) -> tuple[list[str], list[str], list[str]]:
    """(coded flags, flags with a level, structural flags)."""
    coded = codebook.coded_ids
    return coded, codebook.levelled_ids, [f for f in codebook.ids if f not in coded]


def columns(codebook: Codebook, simulated: bool = False) -> list[str]:
    coded, levelled, structural = _flag_columns(codebook)
    return (["id", "series", "file", "nickname", "agent", "round"] + [f"is_{f}" for f in coded]
            + [f"{f}_level" for f in levelled] + structural + ["lang", "text"] + (["simulated"] if simulated else []))


@dataclass(frozen=True)
class CodedRows:
    rows: list[dict]
    simulated_left_out: int
    """Runs left out because their agents were simulated."""


async def coded_rows(store: Store, coder_id: int, codebook: Codebook, include_simulated: bool = False) -> CodedRows:
    labels = await store.labels(coder_id)
    coded, levelled, structural = _flag_columns(codebook)
    rows, left_out = [], 0
    for run in await store.runs():
        if run.simulated and not include_simulated:
            left_out += 1
            continue
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
                "lang": m.language or detect_lang(m.text), "text": m.text, "simulated": str(run.simulated),
            }
            for f in coded:
                row[f"is_{f}"] = str(got.get(f, (False, ""))[0])
            for f in levelled:
                row[f"{f}_level"] = got.get(f, (False, ""))[1]
            for f in structural:
                row[f] = str(got.get(f, (False, ""))[0])
            rows.append(row)
    return CodedRows(rows, left_out)


def write_coded_csv(got: CodedRows, codebook: Codebook, path: Path, include_simulated: bool = False) -> None:
    """The rows (coded_rows) as the study's CSV; the file appears whole or not at all (whoever calls it checks that
    it may be replaced: outfiles.check_free)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = io.StringIO()
    writer = csv.DictWriter(fh, fieldnames=columns(codebook, include_simulated), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(got.rows)
    write_whole(path, fh.getvalue())
