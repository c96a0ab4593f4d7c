"""Any GGUF the user already has: a plain path (`gguf:/path/file.gguf`), Ollama's blob store
(`ollama:qwen2.5:0.5b`), LM Studio's models folder, the Hugging Face cache.

The file's own metadata (read here from the GGUF header, no dependency) gives its size, quantisation and
the agent tags: family from `general.architecture`, base from `general.base_model.0.*` (else
`general.basename`), recipe from `general.finetune`. A file with a chat template is served through it,
one without as a completion model, by the same xllamacpp server path as the bundled models.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

GGUF_PREFIX = "gguf:"
OLLAMA_PREFIX = "ollama:"
MAGIC = b"GGUF"
MODEL_LAYER = "application/vnd.ollama.image.model"
FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
              11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M",
              18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S",
              25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M",
              32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4"}
QUANT_IN_NAME = re.compile(r"(?i)\b(I?Q\d_[A-Z0-9_]+|Q\d_\d|F16|F32|BF16)\b")
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
KEEP_ARRAYS = 64
"""Arrays longer than this (the tokenizer's vocabulary) are skipped, not kept."""


class GGUFError(Exception):
    """A GGUF that cannot be used: one line naming the file (or the model id) and why."""


@dataclass(frozen=True)
class GGUFInfo:
    path: Path
    size: int
    metadata: dict = field(repr=False)

    def get(self, key: str, default=None):
        return self.metadata.get(key, default)

    @property
    def quantisation(self) -> str:
        ftype = self.get("general.file_type")
        if isinstance(ftype, int) and ftype in FILE_TYPES:
            return FILE_TYPES[ftype]
        found = QUANT_IN_NAME.search(self.path.name)
        return found.group(1).upper() if found else "?"

    @property
    def chat(self) -> bool:
        """It carries a chat template (else it is served as a completion model)."""
        return bool(self.get("tokenizer.chat_template"))

    @property
    def name(self) -> str:
        return str(self.get("general.name") or self.get("general.basename") or self.path.stem)

    @property
    def context_length(self) -> int | None:
        arch = self.get("general.architecture")
        value = self.get(f"{arch}.context_length")
        return value if isinstance(value, int) else None

    def tags(self) -> dict[str, str]:
        """family, base and recipe as the file's own metadata says (empty where it says nothing)."""
        base = self.get("general.base_model.0.name") or ""
        org = self.get("general.base_model.0.organization") or ""
        if not base:
            base = "-".join(str(v) for v in (self.get("general.basename"), self.get("general.size_label")) if v)
        finetune = str(self.get("general.finetune") or "")
        return {"family": str(self.get("general.architecture") or ""),
                "base": f"{org}/{base}" if org and base else str(base),
                "recipe": finetune.casefold() if finetune else ""}


def read_header(path: str | Path) -> GGUFInfo:
    """The metadata of a GGUF file (version 2 or 3)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return GGUFInfo(path, size, _parse(buf, path))
    except FileNotFoundError:
        raise GGUFError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:  # mmap of an empty file raises ValueError
        raise GGUFError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None


def _parse(buf, path: Path) -> dict:
    if buf[:4] != MAGIC:
        raise GGUFError(f"{path}: not a GGUF file (no GGUF magic)")
    try:
        version, = struct.unpack_from("<I", buf, 4)
        if version not in (2, 3):
            raise GGUFError(f"{path}: GGUF version {version} is not supported (2 or 3)")
        _, count = struct.unpack_from("<QQ", buf, 8)
        pos = 24
        meta: dict = {}
        for _ in range(count):
            key, pos = _string(buf, pos)
            kind, = struct.unpack_from("<I", buf, pos)
            value, pos = _value(buf, pos + 4, kind)
            meta[key] = value
        return meta
    except (struct.error, UnicodeDecodeError, IndexError) as exc:
        raise GGUFError(f"{path}: truncated or malformed GGUF header ({exc})") from None


def _string(buf, pos: int) -> tuple[str, int]:
    n, = struct.unpack_from("<Q", buf, pos)
    if n > 1 << 24:
        raise struct.error(f"string of {n} bytes")
    start = pos + 8
    return bytes(buf[start:start + n]).decode("utf-8", errors="replace"), start + n


def _value(buf, pos: int, kind: int):
    if kind in _SCALARS:
        fmt = _SCALARS[kind]
        return struct.unpack_from(fmt, buf, pos)[0], pos + struct.calcsize(fmt)
    if kind == STRING:
        return _string(buf, pos)
    if kind == ARRAY:
        item, n = struct.unpack_from("<IQ", buf, pos)
        pos += 12
        if item in _SCALARS and n > KEEP_ARRAYS:  # skip in one step
            return None, pos + n * struct.calcsize(_SCALARS[item])
        if item == STRING and n > KEEP_ARRAYS:  # the vocabulary: only the lengths are read
            unpack = struct.Struct("<Q").unpack_from
            for _ in range(n):
                pos += 8 + unpack(buf, pos)[0]
            return None, pos
        out = []
        for _ in range(n):
            v, pos = _value(buf, pos, item)
            if n <= KEEP_ARRAYS:
                out.append(v)
        return (out if n <= KEEP_ARRAYS else None), pos
    raise struct.error(f"unknown value type {kind}")


# -- where models live ---------------------------------------------------------
def ollama_root() -> Path:
    return Path(os.environ.get("OLLAMA_MODELS") or Path.home() / ".ollama" / "models")


def _ollama_manifest(root: Path, ref: str) -> Path:
    name, _, tag = ref.partition(":")
    parts = name.split("/")
    if len(parts) == 1:
        parts = ["registry.ollama.ai", "library", name]
    elif len(parts) == 2:
        parts = ["registry.ollama.ai", *parts]
    return root.joinpath("manifests", *parts, tag or "latest")


def ollama_blob(ref: str, root: Path | None = None) -> Path:
    """The GGUF blob an Ollama name such as `qwen2.5:0.5b` points at (its manifest's model layer)."""
    root = root or ollama_root()
    manifest = _ollama_manifest(root, ref)
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GGUFError(f"{OLLAMA_PREFIX}{ref}: no such Ollama model in {root} (`ollama list` shows yours)") from None
    except (OSError, ValueError) as exc:
        raise GGUFError(f"{OLLAMA_PREFIX}{ref}: unreadable manifest {manifest}: {exc}") from None
    layers = data.get("layers") if isinstance(data, dict) else None
    digest = next((l.get("digest") for l in layers or [] if isinstance(l, dict) and l.get("mediaType") == MODEL_LAYER),
                  None)
    if not isinstance(digest, str) or not digest.startswith("sha256:"):
        raise GGUFError(f"{OLLAMA_PREFIX}{ref}: its manifest {manifest} names no model layer")
    return root / "blobs" / digest.replace(":", "-")


def resolve(model: str) -> Path:
    """The file behind a `gguf:` or `ollama:` model id."""
    if model.startswith(GGUF_PREFIX):
        path = Path(os.path.expanduser(model.removeprefix(GGUF_PREFIX)))
    elif model.startswith(OLLAMA_PREFIX):
        path = ollama_blob(model.removeprefix(OLLAMA_PREFIX))
    else:
        raise GGUFError(f"{model}: not a gguf: or ollama: model id")
    if not path.is_file():
        raise GGUFError(f"{model}: no such file {path}")
    return path


def is_gguf_model(model: str) -> bool:
    return model.startswith((GGUF_PREFIX, OLLAMA_PREFIX))


def server_key(path: Path) -> str:
    """One server per file, whatever id names it."""
    return "gguf-" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]


def search_dirs() -> list[Path]:
    """Folders searched for *.gguf files: WARROOM_GGUF_DIRS, LM Studio's, the Hugging Face hub cache."""
    extra = [Path(p).expanduser() for p in os.environ.get("WARROOM_GGUF_DIRS", "").split(os.pathsep) if p]
    home = Path.home()
    hf = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME") or home / ".cache" / "huggingface") / "hub")
    return extra + [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models", hf]


@dataclass(frozen=True)
class Found:
    model: str
    """The model id to put in a scenario."""
    where: str
    info: GGUFInfo | None
    error: str = ""


def discover(limit: int = 500) -> list[Found]:
    """Every GGUF found in Ollama's store and the search folders (unreadable ones with their error)."""
    out: list[Found] = []
    root = ollama_root()
    manifests = root / "manifests"
    if manifests.is_dir():
        for m in sorted(p for p in manifests.rglob("*") if p.is_file())[:limit]:
            parts = m.relative_to(manifests).parts
            if len(parts) < 3:
                continue
            name = parts[-2] if parts[1] == "library" else "/".join(parts[1:-1])
            ref = f"{name}:{parts[-1]}"
            out.append(_found(f"{OLLAMA_PREFIX}{ref}", "ollama", lambda r=ref: ollama_blob(r, root)))
    for folder in search_dirs():
        if folder.is_dir():
            for path in sorted(folder.rglob("*.gguf"))[:limit]:
                out.append(_found(f"{GGUF_PREFIX}{path}", str(folder), lambda p=path: p))
    return out


def _found(model: str, where: str, locate) -> Found:
    try:
        return Found(model, where, read_header(locate()))
    except GGUFError as exc:
        return Found(model, where, None, str(exc))
