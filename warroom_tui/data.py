"""Analysis-ready data: stored runs as pandas DataFrames, and the Parquet export.

    from warroom_tui import data
    runs = data.runs("warroom.db")          # one row per run
    msgs = data.messages("warroom.db")      # one row per message (round markers and errors included)
    labs = data.labels("warroom.db")        # one row per coded message, one column per flag
    prof = data.profiles("warroom.db")      # one row per agent and run: flag rates

Every frame has `run_id` and `simulated`: filter simulated runs out (`df[~df.simulated]`) before any finding.
pandas and pyarrow come with the `data` extra (`pip install 'warroom-tui[data]'`) and are imported here only.
"""

from __future__ import annotations

import asyncio
import importlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar

from warroom_tui.outfiles import check_free, whole
from warroom_tui.paths import default_db
from warroom_tui.store.db import Store
from warroom_tui.store.tables import TABLE_NAMES, Table

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

T = TypeVar("T")
EXTRA_HINT = "pip install 'warroom-tui[data]'"


class MissingExtra(ImportError):
    """pandas or pyarrow is not installed."""


def _need(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"{module} is needed for analysis data: {EXTRA_HINT}") from None


def _arrow_type(kind: str) -> "pa.DataType":
    pa = _need("pyarrow")
    return {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}.get(kind, pa.string())


def arrow_table(table: Table) -> "pa.Table":
    """A store table as Arrow, with its declared types (JSON columns are JSON text)."""
    pa = _need("pyarrow")
    schema = pa.schema([(name, _arrow_type(kind)) for name, kind in table.columns])
    columns = list(zip(*table.rows)) if table.rows else [()] * len(table.columns)
    return pa.table([pa.array(col, type=f.type) for col, f in zip(columns, schema)], schema=schema)


async def write_parquet(store: Store, out: Path, force: bool = False) -> dict[str, int]:
    """Every table to `out/<table>.parquet`; returns rows per table. Each file appears whole or not at all; none
    already there is replaced unless `force` (outfiles.TargetExists, before any is written)."""
    pq = _need("pyarrow.parquet")
    check_free([out / f"{name}.parquet" for name in TABLE_NAMES], force)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in TABLE_NAMES:
        arrow = arrow_table(await store.table(name))
        with whole(out / f"{name}.parquet") as partial:
            pq.write_table(arrow, partial)
        written[name] = arrow.num_rows
    return written


# -- DataFrames ------------------------------------------------------------------
def _read(db: str | Path | None, fn: Callable[[Store], Awaitable[T]]) -> T:
    """Run a store query to completion, also from inside a running event loop (a notebook)."""
    path = Path(db) if db is not None else default_db()
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such database")

    async def go() -> T:
        async with Store.open(path, read_only=True) as store:  # analysis never writes the database
            return await fn(store)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(go())
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


async def _frame(store: Store, name: str) -> "pd.DataFrame":
    """Nullable integers and booleans, so a null round or agent stays an integer column."""
    pa, pd = _need("pyarrow"), _need("pandas")
    types = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    return arrow_table(await store.table(name)).to_pandas(types_mapper=types.get)


def table(name: str, db: str | Path | None = None) -> "pd.DataFrame":
    """Any exported table by name: runs, agents, messages, events, coders, codings, labels (long form)."""
    if name not in TABLE_NAMES:
        raise ValueError(f"no table {name!r} (one of {', '.join(TABLE_NAMES)})")
    return _read(db, lambda store: _frame(store, name))


def runs(db: str | Path | None = None) -> "pd.DataFrame":
    """One row per run: identity, series, status, `simulated`, conditions (JSON), agent and message counts."""
    return table("runs", db)


def messages(db: str | Path | None = None) -> "pd.DataFrame":
    """One row per stored message, with its run's series and `simulated`; `agent_idx` is null for markers."""
    return table("messages", db)


_LABEL_FRONT = ["coder", "message_id", "run_id", "series", "simulated", "seq", "round", "agent_idx", "nickname",
                "name", "model", "status", "reason", "text"]


async def _labels(store: Store, coder: str | None) -> "pd.DataFrame":
    from warroom_tui.report import default_coder

    pd = _need("pandas")
    name = coder or await default_coder(store)
    if name is None or await store.coder(name) is None:
        raise LookupError(f"no coder {coder!r} in {store.path}" if coder else f"{store.path}: no labels yet")
    codings = await _frame(store, "codings")
    codings = codings[codings.coder == name].drop(columns=["coder_kind", "at"])
    labels = await _frame(store, "labels")
    labels = labels[labels.coder == name]
    values = labels.pivot(index="message_id", columns="flag", values="value").astype("boolean")
    levels = labels[labels.level != ""].pivot(index="message_id", columns="flag", values="level")
    levels.columns = [f"{flag}_level" for flag in levels.columns]
    msgs = await _frame(store, "messages")
    msgs = msgs[["message_id", "series", "seq", "round", "agent_idx", "nickname", "name", "model", "text"]]
    out = codings.merge(msgs, on="message_id", how="left")
    out = out.merge(values, left_on="message_id", right_index=True, how="left")
    out = out.merge(levels, left_on="message_id", right_index=True, how="left")
    return pd.DataFrame(out[_LABEL_FRONT + [c for c in out.columns if c not in _LABEL_FRONT]]).reset_index(drop=True)


def labels(db: str | Path | None = None, coder: str | None = None) -> "pd.DataFrame":
    """One row per message the coder judged: `status` coded or uncoded (with `reason`), one boolean column per
    flag (null when uncoded) and `<flag>_level` where the codebook has levels. Default coder: the conservative
    panel if there is one, else the built-in coder."""
    return _read(db, lambda store: _labels(store, coder))


async def _profiles(store: Store, coder: str | None, flags: list[str] | None) -> "pd.DataFrame":
    labs = await _labels(store, coder)
    labs = labs[(labs.status == "coded") & labs.agent_idx.notna()]
    known = [c for c in labs.columns if c not in _LABEL_FRONT and not c.endswith("_level")]
    flags = flags or known
    missing = [f for f in flags if f not in known]
    if missing:
        raise LookupError(f"no labels for flag {missing[0]!r}")
    rates = labs.astype({f: "float64" for f in flags}).groupby(["run_id", "agent_idx"])[flags].mean()
    rates.insert(0, "n", labs.groupby(["run_id", "agent_idx"]).size())
    agents = (await _frame(store, "agents"))[["run_id", "agent_idx", "name", "model"]]
    runs_ = (await _frame(store, "runs"))[["run_id", "series", "simulated", "status"]]
    out = rates.reset_index().astype({"agent_idx": "int64"})
    out = runs_.merge(agents.merge(out, on=["run_id", "agent_idx"]), on="run_id")
    out.insert(0, "coder", labs.coder.iloc[0] if len(labs) else coder)
    return out


def profiles(db: str | Path | None = None, coder: str | None = None,
             flags: list[str] | None = None) -> "pd.DataFrame":
    """One row per agent and run: `n` coded messages and the rate of each flag (default: every flag the coder
    labelled; the study's profile is phatic, meta, lead, arch, agree). The same rates `warroom report` uses."""
    return _read(db, lambda store: _profiles(store, coder, flags))
