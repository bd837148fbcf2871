"""Backing up a store while its hub runs, and restoring it into an empty place.

A backup is one ``.tar.gz`` file holding the store and, unless left out, the keys the hub keeps in its
data directory (``secrets.key``, which seals servers' env values and headers; ``jwt.key``, which signs
login tokens): a store without its secrets key cannot open what it sealed. The admin token is not in
it; a restored hub makes a new one.

- **SQLite**: SQLite's online backup API copies a consistent snapshot of the live file (WAL included)
  while the hub goes on writing.
- **PostgreSQL**: ``pg_dump --format=custom`` of the database; ``pg_restore`` brings it into an empty
  database. Both tools must be on ``PATH`` (or next to each other, as the PostgreSQL client ships them).
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from corral import __version__
from corral.errors import Conflict, CorralError, InvalidInput

STORE_SQLITE = "corral.db"
STORE_POSTGRES = "corral.pgdump"
KEYS = ("secrets.key", "jwt.key")
MANIFEST = "manifest.json"
TOOL_TIMEOUT_S = 600.0


class BackupFailed(CorralError):
    code = "backup_failed"


@dataclass(frozen=True)
class BackupReport:
    path: Path
    store: str
    keys: tuple[str, ...]
    bytes: int


def backup(store_url: str, data_dir: Path, target: Path, *, keys: bool = True) -> BackupReport:
    """Write a backup of the store at ``store_url`` (and the keys in ``data_dir``) to ``target``.

    Raises: Conflict when ``target`` exists; InvalidInput when the store does not exist; BackupFailed.
    """
    if target.exists():
        raise Conflict(f"{target} exists: name a new file")
    kind = _kind(store_url)
    with tempfile.TemporaryDirectory(prefix="corral-backup-") as scratch:
        folder = Path(scratch)
        if kind == "sqlite":
            store = folder / STORE_SQLITE
            _sqlite_copy(_sqlite_path(store_url), store)
        else:
            store = folder / STORE_POSTGRES
            _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(store), _libpq_url(store_url)])
        kept = tuple(name for name in KEYS if keys and (data_dir / name).exists())
        manifest = {"corral": __version__, "store": kind, "keys": list(kept)}
        partial = target.with_name(target.name + ".partial")
        with tarfile.open(partial, "w:gz") as archive:
            archive.add(store, arcname=store.name)
            for name in kept:
                archive.add(data_dir / name, arcname=name)
            _add_bytes(archive, MANIFEST, json.dumps(manifest, indent=2).encode())
        partial.chmod(0o600)  # it may hold the keys
        partial.rename(target)
    return BackupReport(target, kind, kept, target.stat().st_size)


def restore(source: Path, store_url: str, data_dir: Path) -> BackupReport:
    """Bring a backup back: the store into ``store_url`` (an SQLite file that does not exist yet, or an
    empty PostgreSQL database), the keys into ``data_dir``.

    Raises: InvalidInput for a file that is not a Corral backup or a store of another kind; Conflict
    when the store or a key is there already; BackupFailed.
    """
    kind = _kind(store_url)
    try:
        archive = tarfile.open(source, "r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise InvalidInput(f"{source} is not a Corral backup: {exc}") from exc
    with archive, tempfile.TemporaryDirectory(prefix="corral-restore-") as scratch:
        manifest = _manifest(archive, source)
        if manifest["store"] != kind:
            raise InvalidInput(
                f"{source} holds a {manifest['store']} store; the store to restore into is {kind}"
            )
        listed = manifest.get("keys", [])
        keys = tuple(name for name in KEYS if isinstance(listed, list) and name in listed)
        for name in keys:
            if (data_dir / name).exists():
                raise Conflict(f"{data_dir / name} exists: restore into an empty data directory")
        archive.extractall(scratch, filter="data")
        folder = Path(scratch)
        data_dir.mkdir(parents=True, exist_ok=True)
        if kind == "sqlite":
            path = _sqlite_path(store_url)
            if path.exists():
                raise Conflict(f"{path} exists: restore into an empty data directory")
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / STORE_SQLITE, path)
        else:
            _run(["pg_restore", "--no-owner", "--exit-on-error", "--dbname", _libpq_url(store_url),
                  str(folder / STORE_POSTGRES)])  # fmt: skip
        for name in keys:
            shutil.copyfile(folder / name, data_dir / name)
            (data_dir / name).chmod(0o600)
    return BackupReport(source, kind, keys, source.stat().st_size)


def _kind(store_url: str) -> str:
    backend = make_url(store_url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise InvalidInput(f"unsupported store {backend!r}")
    return backend


def _sqlite_path(store_url: str) -> Path:
    database = make_url(store_url).database
    if not database or database == ":memory:":
        raise InvalidInput("an in-memory store has nothing to back up")
    return Path(database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy while other connections keep writing."""
    if not source.exists():
        raise InvalidInput(f"no store at {source}")
    live = sqlite3.connect(source, timeout=30)
    copy = sqlite3.connect(target)
    try:
        with copy:
            live.backup(copy, pages=1024)
    except sqlite3.Error as exc:
        raise BackupFailed(f"could not copy {source}: {exc}") from exc
    finally:
        copy.close()
        live.close()


def _libpq_url(store_url: str) -> str:
    """The URL as libpq (pg_dump, pg_restore) reads it: no SQLAlchemy driver name."""
    return make_url(store_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run(command: list[str]) -> None:
    """Raises: BackupFailed, with what the tool printed."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)
    except FileNotFoundError as exc:
        raise BackupFailed(f"{command[0]} is not installed (the PostgreSQL client tools are needed)") from exc
    except subprocess.TimeoutExpired as exc:
        raise BackupFailed(f"{command[0]} took longer than {TOOL_TIMEOUT_S:g}s") from exc
    if done.returncode != 0:
        raise BackupFailed(f"{command[0]} failed: {done.stderr.strip()[-2000:]}")


def _manifest(archive: tarfile.TarFile, source: Path) -> dict[str, object]:
    """Raises: InvalidInput."""
    try:
        member = archive.extractfile(MANIFEST)
        if member is None:
            raise KeyError(MANIFEST)
        manifest: dict[str, object] = json.loads(member.read())
    except (KeyError, ValueError) as exc:
        raise InvalidInput(f"{source} is not a Corral backup (no {MANIFEST})") from exc
    return manifest


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    archive.addfile(info, io.BytesIO(data))
