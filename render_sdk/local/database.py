"""The run history's SQLite file: private to its user, owned by one server at a time, refused in one line.

- Private: a directory made for it is created 0700 and the file (with SQLite's ``-wal`` and ``-shm`` files,
  which SQLite creates with the file's own mode) 0600, whatever the umask; an existing database loses any
  group and other permission bits once it opened.
- One owner: a server holds an exclusive ``flock`` on ``<file>.lock`` for as long as it runs, and writes its
  pid and URL into it. A second server on the same file is refused with a line naming the owner.
- Refused in one line: a file SQLite cannot use (corrupt, read-only, unopenable, from a newer render_sdk) is
  a :class:`DatabaseUnusable` whose message names the file and what is wrong, and what the claim created for
  it (directories, the lock file) is removed again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
from pathlib import Path

__all__ = ["DatabaseClaim", "DatabaseInUse", "DatabaseUnusable", "claim_database", "describe_open_error"]

WAYS_OUT = "give this server another file with --db PATH, or keep runs in memory with --in-memory"


class DatabaseUnusable(Exception):
    """The database cannot be used; the message is one line naming the file and why."""


class DatabaseInUse(DatabaseUnusable):
    """Another server holds the database's lock."""


class DatabaseClaim:
    """This process's ownership of a database file, from :func:`claim_database` until :meth:`release`."""

    def __init__(self, path: Path, lock_path: Path, lock_fd: int, created: list[Path]) -> None:
        self.path = path
        self._lock_path = lock_path
        self._lock_fd: int | None = lock_fd
        self._created = created

    def opened(self, url: str) -> None:
        """The store opened: make its files private and record where this server answers.

        Files that already existed are tightened only now, so that one which turns out not to be a database
        is left exactly as it was.
        """
        _drop_shared_bits(self.path)
        if self._lock_fd is not None:
            _write_owner(self._lock_fd, url)

    def release(self, *, remove_created: bool = False) -> None:
        """Give the database up: remove the lock file, and with ``remove_created`` what the claim created.

        The lock file is removed while still locked, so a server that opened it just before sees that its
        file is no longer the one at the path and starts over (see :func:`claim_database`).
        ``remove_created`` is for a database that turned out unusable: nothing is left behind.
        """
        if self._lock_fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self._lock_path.unlink()
        os.close(self._lock_fd)
        self._lock_fd = None
        if remove_created:
            _remove(self._created)


def claim_database(path: Path) -> DatabaseClaim:
    """Create what ``path`` needs, privately, and lock it for this process.

    Raises:
        DatabaseInUse: Another server holds it.
        DatabaseUnusable: Its directory cannot be created or the lock file cannot be opened.
    """
    created = _make_private_dirs(path.parent)
    if not path.parent.is_dir():
        raise DatabaseUnusable(f"cannot create {path}: {path.parent} is not a directory; {WAYS_OUT}")
    lock_path = path.with_name(path.name + ".lock")
    try:
        lock_fd = _lock(path, lock_path)
    except DatabaseUnusable:
        _remove(created)
        raise
    _write_owner(lock_fd, None)
    if _create_private_file(path):
        created.append(path)
    return DatabaseClaim(path, lock_path, lock_fd, created)


def _remove(created: list[Path]) -> None:
    """Remove files and (empty) directories, innermost first; what cannot go is left."""
    for item in reversed(created):
        with contextlib.suppress(OSError):
            if item.is_dir():
                item.rmdir()
            else:
                for side in ("", "-wal", "-shm", "-journal"):
                    with contextlib.suppress(FileNotFoundError):
                        item.with_name(item.name + side).unlink()


def describe_open_error(path: Path, error: BaseException) -> str:
    """One line saying why SQLite could not use ``path`` (``error`` is what opening it raised)."""
    text = str(error)
    if isinstance(error, sqlite3.DatabaseError):
        if "not a database" in text or "malformed" in text:
            return f"{path} is not a SQLite database or is corrupt ({text}); move it away, or {WAYS_OUT}"
        if "readonly" in text or "read-only" in text:
            return f"{path} is read-only ({text}); make it and its directory writable, or {WAYS_OUT}"
        if "unable to open" in text:
            return f"cannot open {path} ({text}); check the path and its permissions, or {WAYS_OUT}"
        return f"cannot use {path}: {text}; {WAYS_OUT}"
    if isinstance(error, OSError):
        return f"cannot use {path}: {error.strerror or text}; {WAYS_OUT}"
    return f"cannot use {path}: {text}"


def _make_private_dirs(directory: Path) -> list[Path]:
    """Create ``directory`` and missing parents 0700; returns those created, outermost first."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    created = []
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        except OSError as exc:
            raise DatabaseUnusable(f"cannot create {folder}: {exc.strerror}; {WAYS_OUT}") from None
        os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask; this is not
        created.append(folder)
    return created


def _lock(path: Path, lock_path: Path) -> int:
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            problem = f"cannot create its lock file {lock_path.name} ({exc.strerror})"
            raise DatabaseUnusable(f"cannot use {path}: {problem}; {WAYS_OUT}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_owner(fd)
            os.close(fd)
            raise DatabaseInUse(
                f"{path} is in use by another render-workflows dev ({owner}); stop it, or {WAYS_OUT}"
            ) from None
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o600)
        # The previous owner may have removed the file after this one opened it: lock the file at the path.
        try:
            same = os.stat(lock_path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _write_owner(fd: int, url: str | None) -> None:
    owner = json.dumps({"pid": os.getpid(), **({"url": url} if url else {})})
    os.ftruncate(fd, 0)
    os.pwrite(fd, owner.encode() + b"\n", 0)


def _read_owner(fd: int) -> str:
    try:
        owner = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        owner = {}
    if not isinstance(owner, dict):
        owner = {}
    pid = owner.get("pid", "unknown")
    url = owner.get("url")
    return f"pid {pid}, serving {url}" if url else f"pid {pid}, still starting"


def _create_private_file(path: Path) -> bool:
    """Create ``path`` 0600 if it is missing; True if it was."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError:  # it exists (or cannot be: SQLite will say why)
        return False
    try:
        os.fchmod(fd, 0o600)  # exactly, whatever the umask
    finally:
        os.close(fd)
    return True


def _drop_shared_bits(path: Path) -> None:
    """Remove group and other permission bits from ``path`` and SQLite's side files."""
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(OSError):
            mode = os.stat(candidate).st_mode & 0o7777
            if mode & 0o077:
                os.chmod(candidate, mode & 0o700)
