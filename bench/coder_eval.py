"""How well does the built-in coder carry over to messages it has not seen?

Cross-validation over the human-coded development half, folds grouped by run (messages of one run
are never on both sides), next to the fit on all of it. Cohen's kappa per flag and the mean, with
95% bootstrap intervals (resampling runs, 2,000 draws, seed 42) over the out-of-fold predictions.

    .venv/bin/python bench/coder_eval.py [../shared/warroom-data] [--folds 5]

Anything the coder learns (`fit`) is learnt inside the training folds only; the rules themselves
are fixed text, so for them the cross-validated figure guards only what is fitted.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from pathlib import Path

from warroom_tui.analysis.agreement import cohen_kappa
from warroom_tui.judge.builtin import BuiltinCoder
from warroom_tui.judge.codebook import load_codebook
from warroom_tui.judge.copying import copy_mask, seen_limit
from warroom_tui.judge.human import HUMAN_FLAGS, read_human_csv
from warroom_tui.judge.roster import crashed_agents, roster_for, run_aliases
from warroom_tui.store.db import Store
from warroom_tui.store.study_json import import_study_run, load_study_file


async def load_items(data: Path) -> list[dict]:
    """Each human-coded message with its text, run roster, what its agent had seen, and the human's flags."""
    rows = read_human_csv(data / "human_dev.csv")
    items = []
    with tempfile.TemporaryDirectory() as tmp:
        async with Store.open(Path(tmp) / "eval.db") as store:
            runs = {}
            for file in sorted({r["file"] for r in rows}):
                source, run = load_study_file(data / "transcripts" / file)
                runs[file] = await import_study_run(store, run, source)
            cache = {}
            for r in rows:
                run_id = runs[r["file"]]
                if run_id not in cache:
                    msgs = await store.messages(run_id)
                    cache[run_id] = (msgs, run_aliases(await store.agents(run_id), msgs), crashed_agents(msgs))
                msgs, aliases, crashed = cache[run_id]
                m = next(m for m in msgs if m.agent is not None and m.nickname == r["nickname"]
                         and m.round == r["round"])
                seen = [p.text for p in msgs if p.seq <= seen_limit(m.seq, m.seen_upto)]
                items.append({"run": r["file"], "text": m.text, "roster": roster_for(aliases, crashed, m.agent),
                              "copied": copy_mask(m.text, seen),
                              "human": {f: r["flags"][f][0] for f in HUMAN_FLAGS}})
    return items


def folds_by_run(items: list[dict], k: int, seed: int = 42) -> list[list[int]]:
    runs = sorted({it["run"] for it in items})
    random.Random(seed).shuffle(runs)
    fold_of = {run: i % k for i, run in enumerate(runs)}
    return [[i for i, it in enumerate(items) if fold_of[it["run"]] == f] for f in range(k)]


def kappas(items: list[dict], preds: list[dict], idx: list[int]) -> dict[str, float]:
    out = {f: cohen_kappa([items[i]["human"][f] for i in idx], [preds[i][f] for i in idx]) for f in HUMAN_FLAGS}
    out["mean"] = sum(out[f] for f in HUMAN_FLAGS) / len(HUMAN_FLAGS)
    return out


def bootstrap(items: list[dict], preds: list[dict], draws: int = 2000, seed: int = 42) -> dict[str, tuple]:
    """95% percentile intervals, resampling whole runs (messages of a run are not independent)."""
    by_run: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        by_run.setdefault(it["run"], []).append(i)
    runs = sorted(by_run)
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {f: [] for f in (*HUMAN_FLAGS, "mean")}
    for _ in range(draws):
        idx = [i for run in rng.choices(runs, k=len(runs)) for i in by_run[run]]
        for f, v in kappas(items, preds, idx).items():
            samples[f].append(v)
    return {f: (sorted(v)[int(0.025 * draws)], sorted(v)[int(0.975 * draws) - 1]) for f, v in samples.items()}


def code_all(coder: BuiltinCoder, items: list[dict], idx: list[int]) -> dict[int, dict]:
    return {i: coder.code(items[i]["text"], items[i]["roster"], copied=items[i]["copied"]).flags for i in idx}


def evaluate(items: list[dict], k: int) -> dict:
    codebook = load_codebook()
    everything = list(range(len(items)))
    fit_preds = code_all(BuiltinCoder.fitted(codebook, [items[i] for i in everything]), items, everything)
    oof: dict[int, dict] = {}
    for test in folds_by_run(items, k):
        train = [i for i in everything if i not in set(test)]
        coder = BuiltinCoder.fitted(codebook, [items[i] for i in train])
        oof.update(code_all(coder, items, test))
    fit = [fit_preds[i] for i in everything]
    cv = [oof[i] for i in everything]
    return {"n": len(items), "runs": len({it["run"] for it in items}), "folds": k,
            "fit": kappas(items, fit, everything), "cv": kappas(items, cv, everything),
            "cv_ci": bootstrap(items, cv), "fit_ci": bootstrap(items, fit)}


def table(res: dict) -> str:
    cols = [*HUMAN_FLAGS, "mean"]
    lines = [f"n = {res['n']} messages from {res['runs']} runs, {res['folds']} folds grouped by run",
             "| | " + " | ".join(c.upper() if c != "mean" else "mean" for c in cols) + " |",
             "|---" * (len(cols) + 1) + "|"]
    for key, label in (("cv", "cross-validated"), ("fit", "fit on all of the dev half")):
        lines.append(f"| {label} | " + " | ".join(f"{res[key][c]:.3f}" for c in cols) + " |")
        lines.append("| 95% interval | " + " | ".join(
            f"{res[key + '_ci'][c][0]:.2f}–{res[key + '_ci'][c][1]:.2f}" for c in cols) + " |")
    return "\n".join(lines)


def main() -> None:
    default = Path(__file__).resolve().parents[2] / "shared" / "warroom-data"
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", type=Path, default=default)
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    items = asyncio.run(load_items(args.data))
    print(table(evaluate(items, args.folds)))


if __name__ == "__main__":
    sys.exit(main())
