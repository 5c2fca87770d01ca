"""The few things sse-dash keeps between runs (the theme), and where files go.

``$XDG_CONFIG_HOME/sse-dash/settings.json`` (default ``~/.config``), written 0600. A broken
or unreadable file is ignored (defaults), never fatal.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sse_tui.recording import open_private


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "sse-dash"


def settings_path() -> Path:
    return config_dir() / "settings.json"


def load_settings() -> dict[str, Any]:
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_settings(**changes: Any) -> Path | None:
    """Merge ``changes`` into the settings file; None when it cannot be written."""
    data = load_settings()
    data.update(changes)
    path = settings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open_private(tmp, "w") as fh:
            fh.write(json.dumps(data, indent=2) + "\n")
        tmp.replace(path)
    except OSError:
        return None
    return path


def export_dir(preferred: Path | None = None) -> Path:
    """A directory that exists for exports and screenshots: ``preferred``, else the cwd."""
    for candidate in (preferred, Path.cwd(), Path.home()):
        if candidate is not None and candidate.is_dir() and os.access(candidate, os.W_OK):
            return candidate.resolve()
    return Path.cwd()
