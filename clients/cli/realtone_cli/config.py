"""Where the CLI keeps its session: ``$XDG_CONFIG_HOME/realtone/credentials.json``.

The file holds ``{api, email, access_token, refresh_token}``. It is owner-only from its
first byte: the directory is 0700 and the file is created with ``os.open(..., 0o600)``
(never written first and chmod-ed later), then moved into place atomically, so a reader
never sees half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_API = "http://127.0.0.1:8000"
FILE_MODE = 0o600
DIR_MODE = 0o700


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

    def belongs_to(self, api: str) -> bool:
        """A session is only valid on the API it was opened on."""
        return same_api(self.api, api)


def same_api(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def load() -> Credentials | None:
    """The saved session, or None when there is none (or the file is unreadable)."""
    try:
        data = json.loads(credentials_path().read_text(encoding="utf-8"))
        fields = {k: data[k] for k in ("api", "email", "access_token", "refresh_token")}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not all(isinstance(v, str) for v in fields.values()):
        return None
    return Credentials(**fields)


def save(credentials: Credentials) -> Path:
    """Write the session owner-only (dir 0700, file 0600) and atomically; returns its path."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path.parent, DIR_MODE)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()  # a leftover could have other permissions: never reuse it
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(asdict(credentials), f, indent=2)
            f.write("\n")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return path


def forget() -> bool:
    """Delete the saved session; False when there was none."""
    try:
        credentials_path().unlink()
    except FileNotFoundError:
        return False
    return True


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Hold an exclusive lock on the session while it is refreshed.

    Refresh tokens rotate and a reused one revokes the whole session, so two ``realtone``
    processes must not refresh the same token at once: the second waits here, then finds
    the pair the first one saved. (Where ``fcntl`` does not exist this is a no-op.)
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    directory = config_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    fd = os.open(directory / "credentials.lock", os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
