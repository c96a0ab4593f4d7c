"""The study's transcript JSON (warroom-<series>-runNN.json): import into the store, export back.

Fields the store has no column for are kept in `study` (agents, messages) and `meta` (the run), read only
by the exporter here, so an imported run exports back to the same JSON. A run is identified by the hash
of its transcript; a warroom export carries its run's status (`warroom.status`).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from warroom_tui.engine.status import RunStatus
from warroom_tui.engine.transcript import Message, clean_text, study_marker, word_count
from warroom_tui.judge.copying import measure_copying
from warroom_tui.judge.partners import measure_partners
from warroom_tui.judge.roster import run_aliases
from warroom_tui.scenario import shipped_tags
from warroom_tui.store.db import Store
from warroom_tui.store.rows import AgentRow, RunRow
from warroom_tui.untrusted import (MAX_DEPTH, check_tree, label_problem, name_key, name_problem, nickname_problem,
                                   path_part)

AGENT_COLUMNS = ("sender", "text", "round", "agent", "agent_nickname", "model_id", "isError")
ABLATION_TO_SCAFFOLDING = {None: "full", "K1": "no-peers", "K2": "no-identity", "K3": "empty"}
SCAFFOLDING_TO_ABLATION = {"full": None, "no-peers": "K1", "no-identity": "K2", "empty": "K3", "isolated": None}


MAX_ROUND = 1_000_000
"""Rounds and run numbers above this are not a chat anyone ran (and would not fit SQLite's integers)."""


class StudyFormatError(Exception):
    """One line naming the file and the field."""


def _need(cond: bool, path: str, field: str, what: str) -> None:
    if not cond:
        raise StudyFormatError(f"{path}: {field}: {what}")


LONGEST = {"series": 40, "key": 80, "name": 80, "nickname": 80, "agent": 80, "agent_nickname": 80, "model": 200,
           "model_id": 200, "tag": 80}
"""Characters a name may have: a series becomes a file name, the others are table cells (as a scenario's limits)."""


CALLED = ("name", "nickname", "agent", "agent_nickname")
"""Fields holding a name an agent is called by (see untrusted.nickname_problem)."""


def _name(value: str, path: str, field: str, longest: int) -> None:
    problem = _name_problem(value, field.rsplit(".", 1)[-1] in CALLED, longest)
    _need(problem is None, path, field, problem or "")


@lru_cache(maxsize=4096)
def _name_problem(value: str, called: bool, longest: int) -> str | None:
    """Why a name cannot be stored, or None; cached: a run's messages repeat its few names thousands of times."""
    if len(value) > longest:
        return f"longer than {longest} characters"
    return nickname_problem(value) if called else label_problem(value)


def parse_study_run(data: object, path: str) -> dict:
    """Check the shape of one study run and return it as a plain dict."""
    check_tree(data, path, StudyFormatError)
    _need(isinstance(data, dict), path, "(top level)", "expected a JSON object")
    assert isinstance(data, dict)
    for key in ("condition", "environment", "conversation"):
        _need(isinstance(data.get(key), dict), path, key, "missing or not an object")
    cond, env, conv = data["condition"], data["environment"], data["conversation"]
    _need(isinstance(cond.get("series"), str) and cond["series"].strip() != "", path, "condition.series",
          "missing or not a string")
    problem = name_problem(cond["series"])
    _need(problem is None, path, "condition.series", problem or "")
    _need(len(cond["series"]) <= LONGEST["series"], path, "condition.series",
          f"longer than {LONGEST['series']} characters (a file name is made of it)")
    _need(cond.get("promptAblation") in list(ABLATION_TO_SCAFFOLDING), path, "condition.promptAblation",
          "expected null, K1, K2 or K3")
    _need(isinstance(cond.get("mode", "free"), (str, type(None))), path, "condition.mode", "not a string")
    temperature = cond.get("temperature")
    _need(temperature is None or isinstance(temperature, (int, float)) and not isinstance(temperature, bool), path,
          "condition.temperature", "not a number")
    ranking = env.get("agentRanking")
    _need(isinstance(ranking, list) and bool(ranking), path, "environment.agentRanking", "missing or empty list")
    keys, nicks = set(), set()
    for i, a in enumerate(ranking):
        where = f"environment.agentRanking[{i}]"
        _need(isinstance(a, dict), path, where, "not an object")
        for field in ("key", "name", "nickname", "model"):
            _need(isinstance(a.get(field), str) and a[field] != "", path, f"{where}.{field}", "missing or not a string")
            _name(a[field], path, f"{where}.{field}", LONGEST[field])
        for field in TAGS:  # a warroom export's tags: shown by `report --factors`
            _need(isinstance(a.get(field, ""), str), path, f"{where}.{field}", "not a string")
            if a.get(field):
                _name(a[field], path, f"{where}.{field}", LONGEST["tag"])
        _need(a["key"] not in keys, path, f"{where}.key", f"duplicate key {a['key']!r}")
        keys.add(a["key"])
        _need(name_key(a["nickname"]) not in nicks, path, f"{where}.nickname",
              f"duplicate nickname {a['nickname']!r} (messages could not be told apart)")
        nicks.add(name_key(a["nickname"]))
    owner = {name_key(a["nickname"]): a["key"] for a in ranking}
    msgs = conv.get("messages")
    _need(isinstance(msgs, list), path, "conversation.messages", "missing or not a list")
    for i, m in enumerate(msgs):
        where = f"conversation.messages[{i}]"
        _need(isinstance(m, dict), path, where, "not an object")
        sender = m.get("sender")
        _need(isinstance(sender, str), path, f"{where}.sender", "missing or not a string")
        if sender == "system":
            _need(isinstance(m.get("system"), str), path, f"{where}.system", "missing or not a string")
            continue
        _need(isinstance(m.get("text"), str), path, f"{where}.text", "missing or not a string")
        if sender == "user":
            continue
        _need(sender in keys, path, f"{where}.sender", f"{sender!r} is not in environment.agentRanking")
        rnd = m.get("round")
        _need(isinstance(rnd, int) and not isinstance(rnd, bool) and 0 <= rnd <= MAX_ROUND, path,
              f"{where}.round", f"missing or not a whole number from 0 to {MAX_ROUND}")
        _need(isinstance(m.get("isError", False), bool), path, f"{where}.isError", "not true/false")
        for field in ("agent", "agent_nickname", "model_id"):  # shown as the speaker's name, and read as aliases
            _need(isinstance(m.get(field, ""), str), path, f"{where}.{field}", "not a string")
            if m.get(field):
                _name(m[field], path, f"{where}.{field}", LONGEST[field])
        other = owner.get(name_key(m.get("agent_nickname") or ""), sender)
        _need(other == sender, path, f"{where}.agent_nickname",
              f"{m.get('agent_nickname')!r} is the nickname of agent {other!r} (messages could not be told apart)")
    _need(isinstance(conv.get("userPrompt", ""), (str, type(None))), path, "conversation.userPrompt", "not a string")
    stats = data.get("stats", {})
    _need(isinstance(stats, dict), path, "stats", "not an object")
    errored = stats.get("agentsWhoErrored", {})
    _need(isinstance(errored, (dict, type(None))), path, "stats.agentsWhoErrored", "not an object")
    permanent = (errored or {}).get("permanent", [])
    _need(isinstance(permanent, (list, type(None))) and all(isinstance(x, str) for x in permanent or []),
          path, "stats.agentsWhoErrored.permanent", "not a list of names")
    run_number = env.get("runNumber")
    _need(not isinstance(run_number, int) or isinstance(run_number, bool) or abs(run_number) <= MAX_ROUND,
          path, "environment.runNumber", f"out of range (more than {MAX_ROUND})")
    block = data.get("warroom", {})
    _need(isinstance(block, dict), path, "warroom", "not an object")
    _need(block.get("status", RunStatus.DONE.value) in {s.value for s in RunStatus}, path, "warroom.status",
          f"expected one of {', '.join(s.value for s in RunStatus)}")
    return data


def study_conditions(cond: dict) -> dict:
    scaffolding = "isolated" if cond.get("mode") == "single" else ABLATION_TO_SCAFFOLDING.get(
        cond.get("promptAblation"), "full")
    return {
        "naming": "real" if cond.get("useRealNames") else "neutral",
        "scaffolding": scaffolding,
        "temperature": cond.get("temperature"),
        "clones": bool(cond.get("cloneMode")),
    }


def load_study_file(path: Path, root: Path | None = None) -> tuple[str, dict]:
    """Read and check one file; returns (source_file, data)."""
    label = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StudyFormatError(f"{label}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise StudyFormatError(f"{label}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise StudyFormatError(f"{label}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise StudyFormatError(f"{label}: (top level): nested more than {MAX_DEPTH} levels deep") from None
    data = parse_study_run(data, label)
    source = f"{data['condition']['series']}/{path.name}"
    return source, data


def study_digest(data: dict) -> str:
    """A run's identity: the hash of its transcript (key order and whitespace do not count)."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _status(data: dict) -> tuple[RunStatus, str]:
    """A warroom export says how far its run had got; the study's runs are complete."""
    block = data.get("warroom") or {}
    status = RunStatus(block.get("status", RunStatus.DONE.value))
    if status == RunStatus.RUNNING:
        return RunStatus.INTERRUPTED, "exported while it was running"
    return status, str(block.get("reason", ""))


async def import_study_run(store: Store, data: dict, source_file: str) -> int | None:
    """Store one checked study run; None when it is already there (the same transcript, or an export of a run
    this database holds). One transaction."""
    digest = study_digest(data)
    async with store.transaction():  # the check too: a concurrent import waits, then finds the run stored
        if await _stored(store, data, digest):
            return None
        return await _store_run(store, data, source_file, digest)


async def _stored(store: Store, data: dict, digest: str) -> bool:
    if await store.run_by_digest(digest) is not None:
        return True
    own_id = data["environment"].get("id")  # a warroom export names its run
    known = await store.run(own_id) if isinstance(own_id, str) and own_id else None
    return known is not None and known.source == "live"


TAGS = ("family", "base", "recipe")
"""Agent tags a warroom export writes into `agentRanking` (the study's files have none)."""


def _tags(agent: dict, known: dict[str, str]) -> dict[str, str]:
    """The agent's own tags (a warroom export), else the shipped scenarios' for its model."""
    own = {t: clean_text(agent[t]).strip()[:80] if isinstance(agent.get(t), str) else "" for t in TAGS}
    return own if any(own.values()) else {t: known.get(t, "") for t in TAGS}


async def _store_run(store: Store, data: dict, source_file: str, digest: str) -> int:
    cond, env, conv = data["condition"], data["environment"], data["conversation"]
    series = cond["series"]
    ranking = env["agentRanking"]
    index = {a["key"]: i for i, a in enumerate(ranking)}
    errored = (data.get("stats") or {}).get("agentsWhoErrored") or {}
    permanent = set(errored.get("permanent") or []) if isinstance(errored, dict) else set()
    known = shipped_tags()  # the study's files carry no tags: its models' tags from the shipped scenarios
    tags = [_tags(a, known.get(a["model"], {})) for a in ranking]
    agents = [AgentRow(idx=i, key=a["key"], name=a["name"], nickname=a["nickname"], model=a["model"],
                       study={k: v for k, v in a.items() if k not in ("key", "name", "nickname", "model")},
                       family=tags[i]["family"], base=tags[i]["base"], recipe=tags[i]["recipe"])
              for i, a in enumerate(ranking)]
    meta = {k: v for k, v in data.items() if k not in ("conversation",)}
    meta["environment"] = {k: v for k, v in env.items() if k != "agentRanking"}
    meta["conversation"] = {k: v for k, v in conv.items() if k != "messages"}
    messages: list[Message] = []
    for seq, m in enumerate(conv["messages"]):
        sender = m["sender"]
        time = m.get("time") if isinstance(m.get("time"), str) else ""
        if sender == "system":
            messages.append(Message(seq=seq, sender="system", text=m["system"], round=None, time=time,
                                    study={k: v for k, v in m.items() if k not in ("sender", "system")}))
            continue
        if sender == "user":
            messages.append(Message(seq=seq, sender="user", text=m["text"], round=None, time=time,
                                    study={k: v for k, v in m.items() if k not in ("sender", "text")}))
            continue
        i = index[sender]
        is_error = bool(m.get("isError", False))
        study = {k: v for k, v in m.items() if k not in AGENT_COLUMNS}
        study["_keys"] = [k for k in AGENT_COLUMNS if k in m]
        language = m.get("language_detected")
        messages.append(Message(
            seq=seq, sender=sender, text=m["text"], round=m["round"], agent=i,
            nickname=m.get("agent_nickname", ranking[i]["nickname"]), name=m.get("agent", ranking[i]["name"]),
            model=m.get("model_id", ranking[i]["model"]), is_error=is_error,
            error_kind=("permanent" if m.get("agent", ranking[i]["name"]) in permanent else "transient")
            if is_error else "", time=time, language=language if isinstance(language, str) else "", study=study,
        ))
    status, reason = _status(data)
    simulated = cond.get("simulated") is True or any(a.simulated for a in agents)
    measure_copying(messages)
    measure_partners(messages, run_aliases(agents, messages))
    run_id = await store.create_run(
        uid=f"study:{digest[:16]}", scenario=f"study-{series}", series=series,
        brief=conv.get("userPrompt") or "", agents=agents, source="import", source_file=source_file,
        status=status, reason=reason, conditions=study_conditions(cond), meta=meta, simulated=simulated,
        replicate=int(env["runNumber"]) if isinstance(env.get("runNumber"), int) else 0, digest=digest,
    )
    await store.add_messages(run_id, messages)
    return run_id


async def import_study_runs(store: Store, checked: list[tuple[str, dict]]) -> tuple[int, int]:
    """Store checked runs all together or none; returns (added, already stored)."""
    await _backfill_digests(store)
    added = 0
    async with store.transaction():
        for source, data in checked:
            added += await import_study_run(store, data, source) is not None
    return added, len(checked) - added


async def _backfill_digests(store: Store) -> None:
    """Runs imported before runs were identified by content get their digest (from their export)."""
    for run in await store.imported_without_digest():
        digest = study_digest(await export_run(store, run))
        if await store.run_by_digest(digest) is None:
            await store.set_digest(run.id, digest)


def study_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(x for x in p.rglob("*.json") if x.is_file())
        else:
            out.append(p)
    return out


# -- export -------------------------------------------------------------------
async def export_run(store: Store, run: RunRow) -> dict:
    """A run as the study's JSON shape (imported runs come back as they were)."""
    agents = await store.agents(run.id)
    messages = await store.messages(run.id)
    meta = run.meta if run.source == "import" else _live_meta(run, agents, messages)
    ranking = [dict({"key": a.key, "name": a.name, "nickname": a.nickname, "model": a.model},
                    **({} if run.source == "import" else {t: getattr(a, t) for t in TAGS if getattr(a, t)}), **a.study)
               for a in agents]
    env = dict(meta.get("environment", {}))
    env["agentRanking"] = ranking
    conv = dict(meta.get("conversation", {}))
    conv["messages"] = [_export_message(m) for m in messages]
    out = {k: v for k, v in meta.items() if k not in ("environment", "conversation", "scenario")}
    out["environment"], out["conversation"] = env, conv
    return out


def _export_message(m: Message) -> dict:
    study = dict(m.study)
    if m.sender == "system":
        return {"sender": "system", **study, "system": m.text if m.round is None else study_marker(m.round)}
    if m.sender == "user":
        return {"sender": "user", **study, "text": m.text}
    if m.agent is None:  # a debate's summary: nobody's answer (the study's format has no such message)
        return {"sender": "system", **study, "system": f"Summary by {m.nickname}: {m.text}"}
    keys = study.pop("_keys", list(AGENT_COLUMNS))
    full = {"sender": m.sender, "agent": m.name, "agent_nickname": m.nickname, "model_id": m.model,
            "round": m.round, "text": m.text, "isError": m.is_error}
    out = {k: full[k] for k in keys}
    if "_keys" not in m.study:  # a live message: fill the study's extra fields
        out.update({"position": (m.agent or 0) + 1, "wordCount": word_count(m.text)})
    out.update(study)
    return out


def _live_meta(run: RunRow, agents: list[AgentRow], messages: list[Message]) -> dict:
    cond = run.conditions
    scenario = run.meta.get("scenario", {})
    naming = cond.get("naming", "neutral")
    agent_msgs = [m for m in messages if m.agent is not None]
    names = {a.idx: a.name for a in agents}
    crashed = sorted({names[m.agent] for m in agent_msgs if m.agent is not None and m.error_kind == "permanent"})
    transient = sorted({names[m.agent] for m in agent_msgs
                        if m.agent is not None and m.is_error and m.error_kind != "permanent"})
    rounds = max((m.round or 0 for m in agent_msgs), default=0) + 1
    return {
        "condition": {
            "label": run.series, "series": run.series, "temperature": cond.get("temperature"),
            "promptAblation": SCAFFOLDING_TO_ABLATION.get(cond.get("scaffolding", "full")),
            "useRealNames": naming == "real", "cloneMode": bool(scenario.get("clones")),
            "mode": "single" if cond.get("scaffolding") == "isolated" else "free",
            "simulated": run.simulated,
        },
        "environment": {
            "id": run.uid, "timestamp": run.started_at, "runNumber": run.replicate + 1,
            "staggerMs": int(float(scenario.get("stagger", 1.2)) * 1000), "maxRounds": scenario.get("rounds"),
            "removeErrored": True,
        },
        "conversation": {"userPrompt": run.brief},
        "stats": {
            "totalMessages": len(messages), "userMessages": sum(m.sender == "user" for m in messages),
            "aiMessages": len(agent_msgs), "errors": sum(m.is_error for m in agent_msgs), "rounds": rounds,
            "agentsWhoResponded": sorted({names[m.agent] for m in agent_msgs if m.agent is not None and not m.is_error}),
            "agentsWhoErrored": {"permanent": crashed, "transient": transient},
        },
        "warroom": {"status": run.status.value, "reason": run.reason},
    }


def export_name(run: RunRow) -> str:
    """`series/file.json`, each part from data made a safe file name (see `untrusted.path_part`)."""
    if run.source == "import" and run.source_file:
        series, _, name = run.source_file.rpartition("/")
        parts = [series, name] if series else [name]
    else:
        parts = [run.series, f"{run.uid.replace('/', '_').replace(':', '_')}.json"]
    return "/".join(path_part(p) for p in parts)


def export_path(out: Path, run: RunRow) -> Path:
    """Where a run's JSON goes under `out`; raises StudyFormatError for a path that would land outside it."""
    return inside(out, out / export_name(run))


def inside(out: Path, path: Path) -> Path:
    """`path`, checked to resolve under the folder `out` (an export never writes anywhere else)."""
    if not path.resolve().is_relative_to(out.resolve()):
        raise StudyFormatError(f"{path}: outside {out}; nothing written there")
    return path
