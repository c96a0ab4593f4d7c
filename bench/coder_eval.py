"""How well does the built-in coder carry over to messages it has not seen?

Cross-validation over the human-coded development half, folds grouped by run (messages of one run
are never on both sides), next to the fit on all of it. Cohen's kappa per flag and the mean, with
95% bootstrap intervals (resampling runs, 2,000 draws, seed 42) over the out-of-fold predictions.

    .venv/bin/python bench/coder_eval.py [../shared/warroom-data] [--folds 5] [--prune]

The built-in coder's rules are fixed text with nothing fitted, so its cross-validated figure equals
its fit, and both are optimistic: the rules were written while reading this half. `--prune` tests
the one thing one could fit, the choice of lexicon entries: inside each training fold, an entry is
dropped when that raises the fold's kappa; the held-out fold is then coded with what is left.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from pathlib import Path

from warroom_tui.analysis.agreement import cohen_kappa
from warroom_tui.judge.builtin import BuiltinCoder, read
from warroom_tui.judge.codebook import Codebook, Flag, load_codebook
from warroom_tui.judge.copying import copy_mask, seen_limit
from warroom_tui.judge.human import read_human_csv
from warroom_tui.judge.roster import crashed_agents, roster_for, run_aliases
from warroom_tui.store.db import Store
from warroom_tui.store.study_json import import_study_run, load_study_file

HUMAN_FLAGS = tuple(load_codebook().coded_ids)  # the flags a human coded


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
                items.append({"run": r["file"], "text": m.text,
                              "roster": roster_for(aliases, crashed, m.agent, copy_mask(m.text, seen)),
                              "human": {f: r["flags"][f][0] for f in HUMAN_FLAGS}})
    return items


def folds_by_run(items: list[dict], k: int, seed: int = 42) -> list[list[int]]:
    runs = sorted({it["run"] for it in items})
    random.Random(seed).shuffle(runs)
    fold_of = {run: i % k for i, run in enumerate(runs)}
    return [[i for i, it in enumerate(items) if fold_of[it["run"]] == f] for f in range(k)]


def kappas(items: list[dict], preds, idx: list[int]) -> dict[str, float]:
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


LEXICONS = {"short": "substance", "keywords": "patterns", "terms": "terms", "assign": "cues", "agree": "cues",
            "crashed": "cues"}


def predict(codebook: Codebook, items: list[dict], idx: list[int]) -> dict[int, dict]:
    coder = BuiltinCoder(codebook)
    return {i: coder.code(items[i]["text"], items[i]["roster"]).flags for i in idx}


def _flag_kappa(flag: Flag, items: list[dict], idx: list[int]) -> float:
    coder = BuiltinCoder(Codebook(name="one", reading_window=650, flags=[flag]))
    return cohen_kappa([items[i]["human"][flag.id] for i in idx],
                       [coder._rule(flag, items[i]["reading"], items[i]["roster"])[0] for i in idx])


def pruned(codebook: Codebook, items: list[dict], idx: list[int]) -> Codebook:
    """Drop each lexicon entry whose removal raises the kappa on `idx` (backward elimination, one pass)."""
    flags = []
    for flag in codebook.flags:
        field = LEXICONS.get(flag.kind)
        if flag.id not in HUMAN_FLAGS or field is None:
            flags.append(flag)
            continue
        best = _flag_kappa(flag, items, idx)
        for entry in list(getattr(flag, field)):
            trial = flag.model_copy(update={field: [e for e in getattr(flag, field) if e != entry]})
            k = _flag_kappa(trial, items, idx)
            if k > best:
                flag, best = trial, k
        flags.append(flag)
    return codebook.model_copy(update={"flags": flags})


def evaluate(items: list[dict], k: int, prune: bool) -> dict:
    codebook = load_codebook()
    for it in items:
        it["reading"] = read(it["text"], it["roster"], codebook.reading_window)
    everything = list(range(len(items)))
    fit_cb = pruned(codebook, items, everything) if prune else codebook
    fit_preds = predict(fit_cb, items, everything)
    oof: dict[int, dict] = {}
    per_fold = []
    for test in folds_by_run(items, k):
        train = [i for i in everything if i not in set(test)]
        preds = predict(pruned(codebook, items, train) if prune else codebook, items, test)
        oof.update(preds)
        per_fold.append(kappas(items, preds, test)["mean"])
    fit = [fit_preds[i] for i in everything]
    cv = [oof[i] for i in everything]
    return {"n": len(items), "runs": len({it["run"] for it in items}), "folds": k, "per_fold": per_fold,
            "fit": kappas(items, fit, everything), "cv": kappas(items, cv, everything),
            "cv_ci": bootstrap(items, cv), "fit_ci": bootstrap(items, fit)}


def table(res: dict) -> str:
    cols = [*HUMAN_FLAGS, "mean"]
    lines = [f"n = {res['n']} messages from {res['runs']} runs, {res['folds']} folds grouped by run;"
             " mean kappa per fold: " + ", ".join(f"{k:.3f}" for k in res["per_fold"]),
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
    ap.add_argument("--prune", action="store_true", help="choose lexicon entries inside each training fold")
    args = ap.parse_args()
    items = asyncio.run(load_items(args.data))
    print(table(evaluate(items, args.folds, args.prune)))


if __name__ == "__main__":
    sys.exit(main())
