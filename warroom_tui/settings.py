"""User settings (TOML): theme, simulator pace, rebindable keys. No Textual here."""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path

from platformdirs import user_config_dir, user_documents_dir
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from warroom_tui.paths import APP
from warroom_tui.tomlfile import field_error, read_toml


class SettingsError(Exception):
    """One line naming the file and the field."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    theme: str = "dark"
    """A file in warroom_tui/themes/ (dark, light, ...)."""
    sim_pace: float = Field(default=30.0, ge=0, le=10_000)
    """Tokens a second for simulated agents in the lab (0: as fast as possible)."""
    export_dir: str = Field(default_factory=lambda: str(Path(user_documents_dir()) / "warroom-exports"))
    """Where `ctrl+e` writes Markdown exports (default: a folder in the user's documents)."""
    judges: list[str] = ["builtin"]
    """Judges coding messages live: builtin and/or litellm model ids (a panel when two or more)."""
    codebook: str | None = None
    """A codebook TOML; default: the study's v4."""
    keys: dict[str, str] = {}
    """Binding id -> keys, e.g. `naming = "N"` or `pause = "p,space"`. See the help screen for ids."""

    @field_validator("theme")
    @classmethod
    def _shipped_theme(cls, value: str) -> str:
        names = sorted(p.stem for p in (Path(__file__).resolve().parent / "themes").glob("*.tcss"))
        if value not in names:
            raise ValueError(f"unknown theme {value!r} (shipped: {', '.join(names)})")
        return value

    def export_folder(self) -> Path:
        return Path(self.export_dir).expanduser().resolve()


def settings_path() -> Path:
    override = os.environ.get("WARROOM_SETTINGS")
    return Path(override) if override else Path(user_config_dir(APP)) / "settings.toml"


def check_key_ids(settings: Settings, known: set[str], path: Path | None = None) -> None:
    """A key binding id the lab does not have is an error, not silently ignored (a typo would lose the key)."""
    unknown = sorted(set(settings.keys) - known)
    if unknown:
        raise SettingsError(f"{path or settings_path()}: keys.{unknown[0]}: no such binding id "
                            f"(the help screen lists them: {', '.join(sorted(known))})")


def load_settings(path: Path | None = None) -> Settings:
    path = path or settings_path()
    if not path.exists():
        return Settings()
    try:
        return Settings.model_validate(read_toml(path, SettingsError))
    except ValidationError as exc:
        raise SettingsError(f"{path}: {field_error(exc)}") from None


def save_setting(path: Path, key: str, value: str) -> None:
    """Set one top-level string setting in the file, keeping every other line as the user wrote it."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    table = re.search(r"(?m)^\s*\[", text)
    head, tail = (text[:table.start()], text[table.start():]) if table else (text, "")
    line = f"{key} = {json.dumps(value)}"
    pattern = re.compile(rf"(?m)^\s*{re.escape(key)}\s*=.*$")
    head = pattern.sub(lambda _: line, head, count=1) if pattern.search(head) else f"{line}\n{head}"
    tomllib.loads(head + tail)  # never write a file that would not load
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(head + tail, encoding="utf-8")
    tmp.replace(path)
