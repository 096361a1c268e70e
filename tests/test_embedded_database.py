"""The embedded default's SQLite file: the server's workers read while one of them writes."""

import sqlite3

import pytest

from config import settings as project_settings


def test_a_reader_is_not_blocked_by_an_open_write(tmp_path):
    if project_settings.DATABASE_URL:
        pytest.skip("DATABASE_URL is set: the default database is not the embedded SQLite file")
    path = tmp_path / "db.sqlite3"
    writer = sqlite3.connect(path, timeout=0.1, isolation_level=None)
    writer.executescript(project_settings.DATABASES["default"]["OPTIONS"]["init_command"])
    assert writer.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    writer.execute("CREATE TABLE t (a INTEGER)")
    writer.execute("INSERT INTO t VALUES (1)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO t VALUES (2)")
    reader = sqlite3.connect(path, timeout=0.1)
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (1,)  # not 'database is locked'
    writer.execute("COMMIT")
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (2,)
    reader.close()
    writer.close()
