"""``local/database.py`` on real files: the lock, the owner's line, private modes, and one-line reasons."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from render_sdk.local.database import DatabaseInUse, claim_database, describe_open_error


def test_one_claim_at_a_time_and_the_refusal_names_the_owner(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite3"
    first = claim_database(db)
    with pytest.raises(
        DatabaseInUse, match=rf"{db} is in use by another .*pid {os.getpid()}, still starting"
    ):
        claim_database(db)
    first.opened("http://127.0.0.1:8121")
    with pytest.raises(DatabaseInUse, match=r"serving http://127\.0\.0\.1:8121\); stop it, or give this"):
        claim_database(db)
    first.release()
    assert not (tmp_path / "runs.sqlite3.lock").exists()
    claim_database(db).release()


def test_created_directories_and_file_are_private(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        claim = claim_database(tmp_path / "a" / "b" / "runs.sqlite3")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "a" / "b").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "a" / "b" / "runs.sqlite3").st_mode) == 0o600
    claim.release(remove_created=True)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_loses_group_and_other_bits(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite3"
    sqlite3.connect(db).close()
    db.chmod(0o644)
    claim = claim_database(db)
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o644  # untouched until it proves to be a database
    claim.opened("http://127.0.0.1:8121")
    claim.release(remove_created=True)
    assert db.exists() and stat.S_IMODE(os.stat(db).st_mode) == 0o600


def test_read_only_reason(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite3"
    sqlite3.connect(db).close()
    read_only = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as caught:
        read_only.execute("CREATE TABLE t (x)")
    read_only.close()
    line = describe_open_error(db, caught.value)
    assert line.startswith(f"{db} is read-only (attempt to write a readonly database)") and "\n" not in line
