"""Reading TOML files and turning validation errors into one line that names the field."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warroom_tui.untrusted import MAX_DEPTH, check_tree

if TYPE_CHECKING:  # pydantic is imported by what validates (0.2 s of a start that needs none)
    from pydantic import ValidationError


def read_toml(path: Path, error: type[Exception]) -> dict:
    """The document, or `error` with one line naming the file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise error(f"{path}: (top level): nested more than {MAX_DEPTH} levels deep") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: invalid TOML: {exc}") from None
    check_tree(data, str(path), error)
    return data


def _has(node: dict | list, key: Any) -> bool:
    return key in node if isinstance(node, dict) else isinstance(key, int) and 0 <= key < len(node)


def field_error(exc: ValidationError, data: Any = None) -> str:
    """`field.path: what is wrong`, on one line (a model-level check names its own field). With the document
    (`data`), an item of a list that has an `id` is named by it too: `flags.1 (meta).patterns`."""
    err = exc.errors()[0]
    parts, node = [], data
    for p in err.get("loc", ()):
        node = node[p] if isinstance(node, (dict, list)) and _has(node, p) else None  # type: ignore[index]
        ident = node.get("id") if isinstance(p, int) and isinstance(node, dict) else None
        parts.append(f"{p} ({ident})" if isinstance(ident, str) and ident.isprintable() and len(ident) <= 40 else str(p))
    loc = ".".join(parts)
    msg = " ".join(err.get("msg", "invalid").removeprefix("Value error, ").split())[:300]
    if not loc or msg.split(" ")[0].endswith(":"):
        return msg
    return f"{loc}: {msg}"
