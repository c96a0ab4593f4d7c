"""Human-coded messages (the study's human CSV) as a coder in the store, and agreement with judges."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from warroom_tui.analysis.agreement import flag_kappas, mean_kappa
from warroom_tui.judge.codebook import Codebook, load_codebook
from warroom_tui.store.db import Store
from warroom_tui.store.study_json import MAX_ROUND, export_name
from warroom_tui.store.labels import AmbiguousMessage, values
from warroom_tui.store.rows import CodingRow

TRUE = {"true", "1", "yes", "x"}
FALSE = {"", "false", "0", "no"}


class HumanCsvError(Exception):
    """One line naming the file and the field."""


def read_human_csv(path: Path, codebook: Codebook | None = None) -> list[dict]:
    """Rows of a human CSV: `id`, `file`, `round`, and `human_<flag>` for each flag the codebook's coders decide
    (`human_<flag>_level` for a flag with levels, optional)."""
    codebook = codebook or load_codebook()
    levelled = codebook.levelled_ids
    levels = {f.id: {name for name, _ in f.levels} for f in codebook.flags if f.levels}
    required = ["id", "file", "round"] + [f"human_{f}" for f in codebook.coded_ids]
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise HumanCsvError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise HumanCsvError(f"{path}: not UTF-8 text") from None
    try:
        reader = csv.DictReader(io.StringIO(text))
        rows = list(reader)
    except csv.Error as exc:
        raise HumanCsvError(f"{path}: invalid CSV: {exc}") from None
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise HumanCsvError(f"{path}: {missing[0]}: missing column")
    out = []
    for n, row in enumerate(rows, start=2):
        parts = (row.get("id") or "").split("|")
        if len(parts) != 3 or not parts[2].startswith("R"):
            raise HumanCsvError(f"{path}: line {n}: id: expected 'series-run|nickname|R<round>'")
        try:
            rnd = int(row["round"])
        except (TypeError, ValueError):
            raise HumanCsvError(f"{path}: line {n}: round: not a whole number") from None
        if not 0 <= rnd <= MAX_ROUND:
            raise HumanCsvError(f"{path}: line {n}: round: out of range (0 to {MAX_ROUND})")
        flags = {}
        for f in codebook.coded_ids:
            value = (row.get(f"human_{f}") or "").strip().lower()
            if value not in TRUE | FALSE:
                raise HumanCsvError(f"{path}: line {n}: human_{f}: expected true or empty, got {value[:20]!r}")
            level = (row.get(f"human_{f}_level") or "").strip() if f in levelled else ""
            if level and level not in levels.get(f, {level}):
                raise HumanCsvError(f"{path}: line {n}: human_{f}_level: {level[:20]!r} is not one of the "
                                    f"codebook's levels ({', '.join(sorted(levels[f]))})")
            flags[f] = (value in TRUE, level)
        out.append({"file": row["file"], "nickname": parts[1], "round": rnd, "flags": flags, "line": n})
    return out


async def import_human(store: Store, path: Path, name: str = "human",
                       codebook: Codebook | None = None) -> tuple[int, int]:
    """Store the labels as coder `name`; returns (stored, not found in the database)."""
    codebook = codebook or load_codebook()
    rows = read_human_csv(path, codebook)
    runs: dict[str, list[int]] = {}
    for r in await store.runs():  # by the file it came from, and as a coded CSV names it (escaped; a run made here)
        for key in {r.source_file, export_name(r)} - {""}:
            runs.setdefault(key, []).append(r.id)
    for row in rows:  # two transcripts imported from files of one name (other folders): which run is meant is unknown
        if len(runs.get(row["file"], ())) > 1:
            raise HumanCsvError(f"{path}: line {row['line']}: file: {row['file']!r} is the file of "
                                f"{len(runs[row['file']])} runs in the database; nothing stored (import these labels "
                                "into a database holding only the run they were made on)")
    found, missing = [], 0
    async with store.transaction():
        cid = await store.coder_id(name, "human", codebook.name, {"source": str(path)})
        for row in rows:
            found_runs = runs.get(row["file"])
            run_id = found_runs[0] if found_runs else None
            try:
                mid = None if run_id is None else await store.agent_message(run_id, row["nickname"], row["round"])
            except AmbiguousMessage as exc:
                raise HumanCsvError(f"{path}: line {row['line']}: id: {exc} of that run; nothing stored") from None
            if mid is None:
                missing += 1
                continue
            found.append(CodingRow(mid, "coded", "", row["flags"]))
        await store.save_codings(cid, found)
    return len(found), missing


async def agreement_with(store: Store, human: str, coder: str, flags: list[str] | None = None) -> dict[str, float]:
    """Per-flag kappa of a coder against the human, over messages both coded; plus mean and n."""
    flags = flags if flags is not None else load_codebook().coded_ids
    ids = {c.name: c.id for c in await store.coders()}
    h, c = await store.labels(ids[human]), await store.labels(ids[coder])
    out = flag_kappas(values(h), values(c), flags)
    out["mean"] = mean_kappa(out[f] for f in flags)
    return out
