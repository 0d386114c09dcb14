"""Where the CLI keeps its session: ``$XDG_CONFIG_HOME/realtone/credentials.json`` (mode 600)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_API = "http://127.0.0.1:8000"


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "realtone"


def credentials_path() -> Path:
    return config_dir() / "credentials.json"


@dataclass
class Credentials:
    api: str
    email: str
    access_token: str
    refresh_token: str


def load() -> Credentials | None:
    path = credentials_path()
    try:
        data = json.loads(path.read_text())
        return Credentials(
            **{k: data[k] for k in ("api", "email", "access_token", "refresh_token")}
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(credentials: Credentials) -> Path:
    """Written owner-only from the first byte (created with mode 600, never chmod-ed later)."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(credentials), f, indent=2)
    os.replace(temporary, path)
    return path


def forget() -> bool:
    try:
        credentials_path().unlink()
        return True
    except FileNotFoundError:
        return False
