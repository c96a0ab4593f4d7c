"""The study's transcript JSON (warroom-<series>-runNN.json): import into the store, export back.

Fields the store has no column for are kept in `extra`/`meta`, so an imported
run exports back to the same JSON.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from warroom_tui.engine.transcript import Message, word_count
from warroom_tui.store.db import Store

AGENT_COLUMNS = ("sender", "text", "round", "agent", "agent_nickname", "model_id", "isError")
ABLATION_TO_SCAFFOLDING = {None: "full", "K1": "no-peers", "K2": "no-identity", "K3": "empty"}
SCAFFOLDING_TO_ABLATION = {"full": None, "no-peers": "K1", "no-identity": "K2", "empty": "K3", "isolated": None}


class StudyFormatError(Exception):
    """One line naming the file and the field."""


def _need(cond: bool, path: str, field: str, what: str) -> None:
    if not cond:
        raise StudyFormatError(f"{path}: {field}: {what}")


def parse_study_run(data: object, path: str) -> dict:
    """Check the shape of one study run and return it as a plain dict."""
    _need(isinstance(data, dict), path, "(top level)", "expected a JSON object")
    assert isinstance(data, dict)
    for key in ("condition", "environment", "conversation"):
        _need(isinstance(data.get(key), dict), path, key, "missing or not an object")
    cond, env, conv = data["condition"], data["environment"], data["conversation"]
    _need(isinstance(cond.get("series"), str) and cond["series"].strip() != "", path, "condition.series",
          "missing or not a string")
    _need(not re.search(r"[/\\|]", cond["series"]), path, "condition.series", "must not contain / \\ or |")
    ranking = env.get("agentRanking")
    _need(isinstance(ranking, list) and ranking, path, "environment.agentRanking", "missing or empty list")
    keys = set()
    for i, a in enumerate(ranking):
        where = f"environment.agentRanking[{i}]"
        _need(isinstance(a, dict), path, where, "not an object")
        for field in ("key", "name", "nickname", "model"):
            _need(isinstance(a.get(field), str) and a[field] != "", path, f"{where}.{field}", "missing or not a string")
        _need(a["key"] not in keys, path, f"{where}.key", f"duplicate key {a['key']!r}")
        keys.add(a["key"])
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
        _need(isinstance(rnd, int) and not isinstance(rnd, bool) and rnd >= 0, path, f"{where}.round",
              "missing or not a whole number >= 0")
        _need(isinstance(m.get("isError", False), bool), path, f"{where}.isError", "not true/false")
        for field in ("agent", "agent_nickname", "model_id"):
            _need(isinstance(m.get(field, ""), str), path, f"{where}.{field}", "not a string")
    _need(isinstance(conv.get("userPrompt", ""), (str, type(None))), path, "conversation.userPrompt", "not a string")
    stats = data.get("stats", {})
    _need(isinstance(stats, dict), path, "stats", "not an object")
    errored = stats.get("agentsWhoErrored", {})
    _need(isinstance(errored, (dict, type(None))), path, "stats.agentsWhoErrored", "not an object")
    permanent = (errored or {}).get("permanent", [])
    _need(isinstance(permanent, (list, type(None))) and all(isinstance(x, str) for x in permanent or []),
          path, "stats.agentsWhoErrored.permanent", "not a list of names")
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
    data = parse_study_run(data, label)
    source = f"{data['condition']['series']}/{path.name}"
    return source, data


async def import_study_run(store: Store, data: dict, source_file: str) -> int | None:
    """Store one checked study run; None when it is already there. One transaction."""
    cond, env, conv = data["condition"], data["environment"], data["conversation"]
    series = cond["series"]
    uid = f"study:{source_file}"
    if await store.run(uid) is not None:
        return None
    ranking = env["agentRanking"]
    index = {a["key"]: i for i, a in enumerate(ranking)}
    errored = (data.get("stats") or {}).get("agentsWhoErrored") or {}
    permanent = set(errored.get("permanent") or []) if isinstance(errored, dict) else set()
    agents = [
        {"key": a["key"], "name": a["name"], "nickname": a["nickname"], "model": a["model"],
         "extra": {k: v for k, v in a.items() if k not in ("key", "name", "nickname", "model")}}
        for a in ranking
    ]
    meta = {k: v for k, v in data.items() if k not in ("conversation",)}
    meta["environment"] = {k: v for k, v in env.items() if k != "agentRanking"}
    meta["conversation"] = {k: v for k, v in conv.items() if k != "messages"}
    messages: list[Message] = []
    for seq, m in enumerate(conv["messages"]):
        sender = m["sender"]
        if sender == "system":
            messages.append(Message(seq=seq, sender="system", text=m["system"], round=None,
                                    extra={k: v for k, v in m.items() if k not in ("sender", "system")}))
            continue
        if sender == "user":
            messages.append(Message(seq=seq, sender="user", text=m["text"], round=None,
                                    extra={k: v for k, v in m.items() if k not in ("sender", "text")}))
            continue
        i = index[sender]
        is_error = bool(m.get("isError", False))
        extra = {k: v for k, v in m.items() if k not in AGENT_COLUMNS}
        extra["_keys"] = [k for k in AGENT_COLUMNS if k in m]
        messages.append(Message(
            seq=seq, sender=sender, text=m["text"], round=m["round"], agent=i,
            nickname=m.get("agent_nickname", ranking[i]["nickname"]), name=m.get("agent", ranking[i]["name"]),
            model=m.get("model_id", ranking[i]["model"]), is_error=is_error,
            error_kind=("permanent" if m.get("agent", ranking[i]["name"]) in permanent else "transient")
            if is_error else "", extra=extra,
        ))
    try:  # one transaction: a failed import leaves nothing behind
        run_id = await store.create_run(
            uid=uid, scenario=f"study-{series}", series=series, brief=conv.get("userPrompt") or "",
            agents=agents, source="import", source_file=source_file, status="done",
            conditions=study_conditions(cond), meta=meta, commit=False,
            replicate=int(env["runNumber"]) if isinstance(env.get("runNumber"), int) else 0,
        )
        await store.add_messages(run_id, messages, commit=False)
        await store.db.commit()
    except BaseException:
        await store.db.rollback()
        raise
    return run_id


def study_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(x for x in p.rglob("*.json") if x.is_file())
        else:
            out.append(p)
    return out


# -- export -------------------------------------------------------------------
async def export_run(store: Store, run: dict) -> dict:
    """A run as the study's JSON shape (imported runs come back as they were)."""
    agents = await store.agents(run["id"])
    messages = await store.messages(run["id"])
    meta = run["meta"] if run["source"] == "import" else _live_meta(run, agents, messages)
    ranking = [dict({"key": a["key"], "name": a["name"], "nickname": a["nickname"], "model": a["model"]},
                    **a["extra"]) for a in agents]
    env = dict(meta.get("environment", {}))
    env["agentRanking"] = ranking
    conv = dict(meta.get("conversation", {}))
    conv["messages"] = [_export_message(m, agents) for m in messages]
    out = {k: v for k, v in meta.items() if k not in ("environment", "conversation", "scenario")}
    out["environment"], out["conversation"] = env, conv
    return out


def _export_message(m: Message, agents: list[dict]) -> dict:
    extra = dict(m.extra)
    if m.sender == "system":
        return {"sender": "system", **extra, "system": m.text}
    if m.sender == "user":
        return {"sender": "user", **extra, "text": m.text}
    keys = extra.pop("_keys", list(AGENT_COLUMNS))
    full = {"sender": m.sender, "agent": m.name, "agent_nickname": m.nickname, "model_id": m.model,
            "round": m.round, "text": m.text, "isError": m.is_error}
    out = {k: full[k] for k in keys}
    if "_keys" not in m.extra:  # a live message: fill the study's extra fields
        out.update({"position": (m.agent or 0) + 1, "wordCount": word_count(m.text)})
    out.update(extra)
    return out


def _live_meta(run: dict, agents: list[dict], messages: list[Message]) -> dict:
    cond = run["conditions"]
    scenario = run["meta"].get("scenario", {})
    naming = cond.get("naming", "neutral")
    agent_msgs = [m for m in messages if m.agent is not None]
    crashed = sorted({agents[m.agent]["name"] for m in agent_msgs if m.error_kind == "permanent"})
    transient = sorted({agents[m.agent]["name"] for m in agent_msgs if m.is_error and m.error_kind != "permanent"})
    rounds = max((m.round or 0 for m in agent_msgs), default=0) + 1
    return {
        "condition": {
            "label": run["series"], "series": run["series"], "temperature": cond.get("temperature"),
            "promptAblation": SCAFFOLDING_TO_ABLATION.get(cond.get("scaffolding", "full")),
            "useRealNames": naming == "real", "cloneMode": bool(scenario.get("clones")),
            "mode": "single" if cond.get("scaffolding") == "isolated" else "free",
            "simulated": bool(run["simulated"]),
        },
        "environment": {
            "id": run["uid"], "timestamp": run["started_at"], "runNumber": run["replicate"] + 1,
            "staggerMs": int(float(scenario.get("stagger", 1.2)) * 1000), "maxRounds": scenario.get("rounds"),
            "removeErrored": True,
        },
        "conversation": {"userPrompt": run["brief"]},
        "stats": {
            "totalMessages": len(messages), "userMessages": sum(m.sender == "user" for m in messages),
            "aiMessages": len(agent_msgs), "errors": sum(m.is_error for m in agent_msgs), "rounds": rounds,
            "agentsWhoResponded": sorted({agents[m.agent]["name"] for m in agent_msgs if not m.is_error}),
            "agentsWhoErrored": {"permanent": crashed, "transient": transient},
        },
    }


def export_name(run: dict) -> str:
    if run["source"] == "import" and run["source_file"]:
        return run["source_file"]
    return f"{run['series']}/{run['uid'].replace('/', '_').replace(':', '_')}.json"
