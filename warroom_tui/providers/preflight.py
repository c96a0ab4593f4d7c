"""Before a run starts: does every agent's provider have what it needs? One line per missing piece."""

from __future__ import annotations

import socket
from urllib.parse import urlparse

from warroom_tui.modelid import is_simulated
from warroom_tui.providers.gguf import GGUFError, is_gguf_model, read_header, resolve
from warroom_tui.providers.local import LOCAL_PREFIX, SPECS, available

OLLAMA_BASE = "http://localhost:11434"


def _reachable(api_base: str) -> bool:
    url = urlparse(api_base)
    if not url.hostname:
        return False
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=2):
            return True
    except OSError:
        return False


def problems(agents: list[tuple[str, str | None]]) -> list[str]:
    """`agents`: (model id, api_base). litellm is imported only when a real remote model is listed."""
    out: list[str] = []
    keys: dict[str, list[str]] = {}  # a missing environment variable -> the models that need it
    installed = None
    for model, api_base in dict.fromkeys(agents):
        if is_simulated(model):
            continue
        if is_gguf_model(model):
            try:
                read_header(resolve(model))
            except GGUFError as exc:
                out.append(str(exc))
            continue
        if model.startswith(LOCAL_PREFIX):
            key = model.removeprefix(LOCAL_PREFIX)
            installed = installed if installed is not None else available()
            if key not in SPECS:
                out.append(f"{model}: no such bundled model (have: {', '.join(LOCAL_PREFIX + k for k in SPECS)})")
            elif not installed.get(key):
                out.append(f"{model}: the bundled model is not installed ({SPECS[key].install})")
            continue
        base = api_base or (OLLAMA_BASE if model.startswith(("ollama/", "ollama_chat/")) else None)
        if base:
            if not _reachable(base):
                out.append(f"{model}: no server answers at {base}")
            continue
        from warroom_tui.providers.gateway import load_litellm

        for key in load_litellm().validate_environment(model).get("missing_keys") or []:
            keys.setdefault(key, []).append(model)
    for key, models in keys.items():
        shown = ", ".join(models[:2]) + (f" and {len(models) - 2} more" if len(models) > 2 else "")
        out.append(f"{key} is not set ({shown} need it): set it in the environment, or use --backend sim")
    return out
