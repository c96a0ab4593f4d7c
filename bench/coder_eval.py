"""How well does the built-in coder carry over to messages it has not seen?

Cross-validation over the human-coded development half, folds grouped by run (messages of one run
are never on both sides), next to the shipped coder's fit on all of it and the hand-written rules
alone. Cohen's kappa per flag and the mean, with 95% bootstrap intervals (resampling runs, 2,000
draws, seed 42) over the out-of-fold predictions.

    .venv/bin/python bench/coder_eval.py [../shared/warroom-data] [--folds 5] [--splits 1] [--fit] [--verbose]
                                         [--prune] [--no-grow] [--no-calibrate]

`--splits N` repeats the cross-validation over N random fold splits (seeds 42, 43, ...) and reports the
mean and the range: one split's figure moves by about ±0.01 with the split alone.

What is fitted is fitted inside each training fold only, then the held-out fold is coded:
- candidate cues (CANDIDATES) are added when they raise the training kappa (forward selection);
- per flag, an inner cross-validation on the training runs chooses the rule alone or a small
  L2-regularised logistic model over the coder's readings (codebook.Calibration), fitted on them.
`--fit` runs the same on the whole dev half and writes the shipped calibration (the chosen cues must be
the ones in the codebook). `--prune` also drops lexicon entries inside each fold (it overfits).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from warroom_tui.analysis.agreement import cohen_kappa, mean_kappa
from warroom_tui.judge.builtin import BuiltinCoder
from warroom_tui.judge.codebook import DEFAULT_CODEBOOK, FLAG_DEFAULTS, Calibration, Codebook, Flag, load_codebook
from warroom_tui.judge.copying import copy_mask, seen_limit
from warroom_tui.judge.human import read_human_csv
from warroom_tui.judge.roster import crashed_agents, roster_for, run_aliases
from warroom_tui.store.db import Store
from warroom_tui.store.study_json import import_study_run, load_study_file

HUMAN_FLAGS = tuple(load_codebook().coded_ids)  # the flags a human coded
CALIBRATION = DEFAULT_CODEBOOK.with_name("calibration_v4.json")


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
    out["mean"] = mean_kappa(out[f] for f in HUMAN_FLAGS)  # flags where kappa is defined
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
            if not math.isnan(v):  # a resample where neither side ever set the flag: kappa is undefined
                samples[f].append(v)
    return {f: (sorted(v)[int(0.025 * len(v))], sorted(v)[max(0, int(0.975 * len(v)) - 1)]) if v
            else (math.nan, math.nan) for f, v in samples.items()}


LEXICONS = {"short": "substance", "keywords": "patterns", "terms": "terms", "assign": "cues", "agree": "cues",
            "crashed": "cues"}


def read_all(codebook: Codebook, items: list[dict]) -> None:
    coder = BuiltinCoder(codebook)
    for it in items:
        it["readings"] = coder.readings(it["text"], it["roster"])


def coded(codebook: Codebook, items: list[dict], idx: list[int]) -> dict[int, dict]:
    coder = BuiltinCoder(codebook)
    return {i: coder.code_read(items[i]["text"], *items[i]["readings"], items[i]["roster"]).flags for i in idx}


def _flag_kappa(codebook: Codebook, flag: Flag, items: list[dict], idx: list[int]) -> float:
    """One flag's kappa, read as the coder reads it (its reading window, echoes skipped if it says so)."""
    one = codebook.model_copy(update={"flags": [flag], "calibration": {}})
    got = coded(one, items, idx)
    return cohen_kappa([items[i]["human"][flag.id] for i in idx], [got[i][flag.id] for i in idx])


def pruned(codebook: Codebook, items: list[dict], idx: list[int]) -> Codebook:
    """Drop each lexicon entry whose removal raises the kappa on `idx` (backward elimination, one pass)."""
    flags = []
    for flag in codebook.flags:
        field = LEXICONS.get(flag.kind)
        if flag.id not in HUMAN_FLAGS or field is None:
            flags.append(flag)
            continue
        best = _flag_kappa(codebook, flag, items, idx)
        for entry in list(getattr(flag, field)):
            trial = flag.model_copy(update={field: [e for e in getattr(flag, field) if e != entry]})
            k = _flag_kappa(codebook, trial, items, idx)
            if k > best:
                flag, best = trial, k
        flags.append(flag)
    return codebook.model_copy(update={"flags": flags})


# Additions a training fold may choose (--grow), written from the codebook's definitions, not from misses:
# LEAD "an owner named for a task" as a list item; META's summaries and alignment; AGREE's thanks for a named
# agent's confirmation, update or summary (the human and the Sonnet judge both read them as agreement); ARCH's
# long messages, whose reading window names one technology while the whole names many (a setting, whole_count:
# the largest value that beats the ones before it is kept). Gone because they lowered the cross-validated
# kappa: four earlier AGREE cues ("+1", any thanks next to a name, "I confirm", praise), a wider agreement
# window chosen per fold, owner tables that must name an agent, wider owner lists, generic technical words.
CANDIDATES: list[tuple[str, list[str] | dict]] = [
    ("lead", [r"^\s*(?:[-*+•]|\d+[.)])\s*\W{0,4}{name}\W{0,4}\s*:"]),
    ("lead", [r"^\s*(?:[-*+•]|\d+[.)]).*\({name}[^)\n]{0,30}\)\s*$"]),
    ("meta", [r"synth[eè]se|r[ée]cap|summary|wrap(?:ping)? up"]),
    ("meta", [r"same page|même page|align[ée]|consensus"]),
    ("agree", [r"(?:merci|thanks?|thank you)\W*(?:{name}\W*)?(?:pour|for)\b[^.!\n]{0,25}(?:confirmation|validation|mise à jour|update|synthèse|récap|recap|retour|feedback)"]),
    *(("arch", {"whole_count": k}) for k in (3, 4, 5, 6, 7, 9)),
]
GROW_MARGIN = 0.005  # an addition must raise the training kappa by this much


def base_rules(codebook: Codebook) -> Codebook:
    """The hand-written rules: the shipped codebook without its calibration and without the candidates
    (the shipped codebook carries those chosen on the whole dev half; each training fold chooses again)."""
    drop = {p for _, patterns in CANDIDATES if isinstance(patterns, list) for p in patterns}
    unset = {(f, k) for f, update in CANDIDATES if isinstance(update, dict) for k in update}
    flags = [f.model_copy(update={LEXICONS[f.kind]: [e for e in getattr(f, LEXICONS[f.kind]) if e not in drop],
                                  **{k: FLAG_DEFAULTS[k] for g, k in unset if g == f.id}})
             if f.kind in LEXICONS else f for f in codebook.flags]
    return codebook.model_copy(update={"flags": flags, "calibration": {}})


def grown(codebook: Codebook, items: list[dict], idx: list[int], log: list[str] | None = None) -> Codebook:
    """Add each candidate that raises the kappa of its flag on `idx` (forward selection, one pass)."""
    flags = {f.id: f for f in codebook.flags}
    best = {f: _flag_kappa(codebook, flags[f], items, idx) for f in {c[0] for c in CANDIDATES}}
    for flag_id, addition in CANDIDATES:
        flag = flags[flag_id]
        field = LEXICONS[flag.kind]
        if isinstance(addition, dict):  # a setting: a later value replaces an earlier one it beats
            trial, what = flag.model_copy(update=addition), ", ".join(f"{k} = {v}" for k, v in addition.items())
        else:
            trial, what = flag.model_copy(update={field: [*getattr(flag, field), *addition]}), addition[0][:40]
        k = _flag_kappa(codebook, trial, items, idx)
        if k > best[flag_id] + GROW_MARGIN:
            flags[flag_id], best[flag_id] = trial, k
            if log is not None:
                log.append(f"{flag_id} + {what}")
    return codebook.model_copy(update={"flags": [flags[f.id] for f in codebook.flags]})


# -- calibration: a small regularised logistic model per flag, chosen and fitted on training runs only --

def candidate_sets(codebook: Codebook, flag_id: str) -> list[list[str]]:
    """Feature sets tried for a flag, from the codebook alone: its rule with the other flags' rules, then
    with how many of its patterns match, the message's length and its copied share too."""
    others = [f"rule:{f}" for f in HUMAN_FLAGS if f != flag_id]
    rich = [f"rule:{flag_id}", *others, "log_chars", "copied_chars"]
    if codebook.flag(flag_id).kind in ("keywords", "agree", "assign"):
        rich.insert(1, f"hits:{flag_id}")
    return {"both": [[f"rule:{flag_id}", *others], rich], "rules": [[f"rule:{flag_id}", *others]],
            "rich": [rich]}[SETS]


LAMBDAS = (0.01, 0.1, 1.0)  # L2 penalty on standardised weights
MIN_POSITIVES = 20  # no model for a flag the human set on fewer training messages (COMP)
MARGIN = 0.02  # a model must beat the rule alone by this much (inner kappa) to replace it
SETS = "both"  # candidate feature sets (see candidate_sets)


def features(codebook: Codebook, items: list[dict], idx: list[int]) -> dict[int, dict[str, float]]:
    coder = BuiltinCoder(codebook.model_copy(update={"calibration": {}}))
    names = sorted({f for flag in HUMAN_FLAGS for s in candidate_sets(codebook, flag) for f in s})
    out = {}
    for i in idx:
        plain, own = items[i]["readings"]
        rules = coder.code_read(items[i]["text"], plain, own, items[i]["roster"]).flags
        out[i] = dict(zip(names, coder.features(names, items[i]["text"], plain, own, items[i]["roster"], rules)))
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """L2-regularised logistic regression on standardised features (Newton's method): mean, scale, weights, bias."""
    mean = x.mean(0)
    scale = x.std(0)
    scale[scale == 0] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    beta = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], lam)
    penalty[-1] = 0.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-(z @ beta)))
        grad = z.T @ (p - y) / len(y) + penalty * beta
        hess = (z * (p * (1 - p))[:, None]).T @ z / len(y) + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-9:
            break
    return mean, scale, beta[:-1], float(beta[-1])


def _fit(feats: dict, items: list[dict], idx: list[int], flag_id: str, names: list[str], lam: float) -> Calibration:
    x = np.array([[feats[i][n] for n in names] for i in idx], dtype=float)
    y = np.array([items[i]["human"][flag_id] for i in idx], dtype=float)
    mean, scale, w, b = fit_logistic(x, y, lam)
    return Calibration(features=names, mean=mean.round(6).tolist(), scale=scale.round(6).tolist(),
                       weights=w.round(6).tolist(), bias=round(b, 6))


def _decide(cal: Calibration, x: dict[str, float]) -> bool:
    return cal.bias + sum(w * (x[n] - m) / s for n, w, m, s in zip(cal.features, cal.weights, cal.mean, cal.scale)) > 0


def choose_calibration(codebook: Codebook, feats: dict, items: list[dict], idx: list[int], flag_id: str,
                       inner: int = 4) -> tuple[Calibration | None, str]:
    """The rule alone, or a model (feature set and penalty) if it codes better in an inner cross-validation
    over `idx`'s runs; fitted on all of `idx`. Ties go to the rule."""
    human = [items[i]["human"][flag_id] for i in idx]
    if sum(human) < MIN_POSITIVES:
        return None, f"rule alone (only {sum(human)} positives)"
    best = (cohen_kappa(human, [feats[i][f"rule:{flag_id}"] > 0 for i in idx]), None, 0.0)
    sub = [items[i] for i in idx]
    for names in candidate_sets(codebook, flag_id):
        for lam in LAMBDAS:
            oof: dict[int, bool] = {}
            for test in folds_by_run(sub, inner, seed=7):
                test_idx = [idx[j] for j in test]
                held = set(test_idx)
                cal = _fit(feats, items, [i for i in idx if i not in held], flag_id, names, lam)
                oof.update((i, _decide(cal, feats[i])) for i in test_idx)
            k = cohen_kappa(human, [oof[i] for i in idx])
            if k > best[0] + (MARGIN if best[1] is None else 1e-9):
                best = (k, names, lam)
    if best[1] is None:
        return None, f"rule alone (inner kappa {best[0]:.3f})"
    cal = _fit(feats, items, idx, flag_id, best[1], best[2])
    return cal, f"model on {', '.join(best[1])}, lambda {best[2]} (inner kappa {best[0]:.3f})"


def calibrated(codebook: Codebook, items: list[dict], idx: list[int], log: list[str] | None = None) -> Codebook:
    feats = features(codebook, items, idx)
    cals = {}
    for flag_id in HUMAN_FLAGS:
        cal, why = choose_calibration(codebook, feats, items, idx, flag_id)
        if log is not None:
            log.append(f"{flag_id}: {why}")
        if cal is not None:
            cals[flag_id] = cal.model_copy(update={"note": why})
    return codebook.model_copy(update={"calibration": cals})


def train(codebook: Codebook, items: list[dict], idx: list[int], prune: bool, calibrate: bool,
          log: list[str] | None = None, grow: bool = False) -> Codebook:
    """What is fitted, fitted on `idx` only: lexicon pruning or growing (optional), then each flag's calibration."""
    if prune:
        codebook = pruned(codebook, items, idx)
    if grow:
        codebook = grown(codebook, items, idx, log)
    return calibrated(codebook, items, idx, log) if calibrate else codebook


def cross_validated(rules: Codebook, items: list[dict], k: int, prune: bool = False, calibrate: bool = True,
                    grow: bool = True, seed: int = 42) -> tuple[dict[int, dict], list[float], list[str]]:
    """Out-of-fold predictions of `rules` trained inside each fold (one split, by `seed`), each fold's mean
    kappa, and what each fold chose."""
    everything = list(range(len(items)))
    oof: dict[int, dict] = {}
    per_fold, logs = [], []
    for n, test in enumerate(folds_by_run(items, k, seed)):
        held = set(test)
        log: list[str] = []
        trained = train(rules, items, [i for i in everything if i not in held], prune, calibrate, log, grow)
        logs.append(f"fold {n + 1}: " + "; ".join(log))
        preds = coded(trained, items, test)
        oof.update(preds)
        per_fold.append(kappas(items, preds, test)["mean"])
    return oof, per_fold, logs


def evaluate(items: list[dict], k: int, prune: bool = False, calibrate: bool = True, grow: bool = True,
             splits: int = 1) -> dict:
    shipped = load_codebook()
    rules = base_rules(shipped)
    read_all(rules, items)
    everything = list(range(len(items)))
    fit_preds = coded(shipped, items, everything)  # the shipped coder, fitted on all of the dev half
    rule_preds = coded(rules, items, everything)
    oof, per_fold, logs = cross_validated(rules, items, k, prune, calibrate, grow)
    fit = [fit_preds[i] for i in everything]
    cv = [oof[i] for i in everything]
    rule = [rule_preds[i] for i in everything]
    cvs = [kappas(items, cv, everything)]  # then the same over other random fold splits: how much it moves
    for n in range(1, splits):
        other = cross_validated(rules, items, k, prune, calibrate, grow, seed=42 + n)[0]
        cvs.append(kappas(items, [other[i] for i in everything], everything))
    return {"n": len(items), "runs": len({it["run"] for it in items}), "folds": k, "per_fold": per_fold,
            "fit": kappas(items, fit, everything), "cv": cvs[0], "cv_splits": cvs,
            "rules": kappas(items, rule, everything), "rules_ci": bootstrap(items, rule),
            "cv_ci": bootstrap(items, cv), "fit_ci": bootstrap(items, fit), "logs": logs,
            "calibrated": sorted(shipped.calibration)}


def table(res: dict) -> str:
    cols = [*HUMAN_FLAGS, "mean"]
    lines = [f"n = {res['n']} messages from {res['runs']} runs, {res['folds']} folds grouped by run;"
             " mean kappa per fold: " + ", ".join(f"{k:.3f}" for k in res["per_fold"]),
             "| | " + " | ".join(c.upper() if c != "mean" else "mean" for c in cols) + " |",
             "|---" * (len(cols) + 1) + "|"]
    for key, label in (("cv", "cross-validated"), ("fit", "shipped coder on all of the dev half (its fit)"),
                       ("rules", "hand-written rules alone (nothing fitted)")):
        lines.append(f"| {label} | " + " | ".join(f"{res[key][c]:.3f}" for c in cols) + " |")
        lines.append("| 95% interval | " + " | ".join(
            f"{res[key + '_ci'][c][0]:.2f}–{res[key + '_ci'][c][1]:.2f}" for c in cols) + " |")
    return "\n".join(lines)


def main() -> None:
    default = Path(__file__).resolve().parents[2] / "shared" / "warroom-data"
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", type=Path, default=default)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--splits", type=int, default=1, help="repeat the cross-validation over this many fold splits")
    ap.add_argument("--prune", action="store_true", help="also drop lexicon entries inside each training fold")
    ap.add_argument("--no-grow", action="store_true", help="do not choose candidate additions")
    ap.add_argument("--no-calibrate", action="store_true", help="fit no calibration models")
    ap.add_argument("--fit", action="store_true",
                    help=f"fit the calibration on all of the dev half and write {CALIBRATION.name} (then evaluate)")
    ap.add_argument("--verbose", action="store_true", help="what each training fold chose")
    args = ap.parse_args()
    items = asyncio.run(load_items(args.data))
    if args.fit:
        shipped = load_codebook()
        rules = base_rules(shipped)
        read_all(rules, items)
        log: list[str] = []
        fitted = train(rules, items, list(range(len(items))), False, True, log, grow=True)
        print("fitted on all of the dev half:", "; ".join(log))
        if [f.model_dump() for f in fitted.flags] != [f.model_dump() for f in shipped.flags]:
            sys.exit(f"the additions chosen differ from those in {DEFAULT_CODEBOOK.name}: put these in it and fit again")
        CALIBRATION.write_text(json.dumps({f: c.model_dump() for f, c in fitted.calibration.items()}, indent=1) + "\n")
        print(f"wrote {CALIBRATION}")
    res = evaluate(items, args.folds, args.prune, not args.no_calibrate, not args.no_grow, args.splits)
    print(table(res))
    if args.splits > 1:
        cvs, cols = res["cv_splits"], [*HUMAN_FLAGS, "mean"]
        print(f"| cross-validated, mean of {args.splits} fold splits | "
              + " | ".join(f"{statistics.fmean(c[f] for c in cvs):.3f}" for f in cols) + " |")
        print("| lowest–highest split | " + " | ".join(
            f"{min(c[f] for c in cvs):.3f}–{max(c[f] for c in cvs):.3f}" for f in cols) + " |")
    print("calibrated flags (shipped):", ", ".join(res["calibrated"]) or "none")
    if args.verbose:
        print("\n".join(res["logs"]))


if __name__ == "__main__":
    sys.exit(main())
