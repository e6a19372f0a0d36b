"""The SQLite writers' queue: one writer at a time across processes and threads."""

from __future__ import annotations

import multiprocessing
import threading
import time

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.db import Database, writer_queue_for


def test_only_file_databases_have_a_writer_queue(tmp_path):
    queue = writer_queue_for(f"sqlite:///{tmp_path}/app.db")
    assert queue is not None and queue.path == tmp_path / "app.db.writers"
    assert writer_queue_for("postgresql+psycopg://u@127.0.0.1:1/db") is None


def test_sqlite_commits_are_on_disk_before_they_are_answered(tmp_path):
    """WAL with synchronous=FULL: a commit survives a power loss (NORMAL may
    lose the last ones, and with them checkpoints already handed out)."""
    database = Database(f"sqlite:///{tmp_path}/app.db")
    try:
        for connect in (database.write, database.read):
            with connect() as session:
                assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
                assert session.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        with database.autocommit() as connection:
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 2
    finally:
        database.dispose()


def _take_turn(queue, started, done) -> None:
    started.set()
    with queue.turn():
        done.set()


def test_a_forked_process_waits_for_the_writer_before_it(tmp_path):
    queue = writer_queue_for(f"sqlite:///{tmp_path}/app.db")
    context = multiprocessing.get_context("fork")
    started, done = context.Event(), context.Event()
    with queue.turn():  # opened in the parent before the fork: the child must reopen it
        child = context.Process(target=_take_turn, args=(queue, started, done))
        child.start()
        try:
            assert started.wait(10)
            assert not done.wait(0.3), "the child wrote while the parent held the queue"
        except BaseException:
            child.kill()
            raise
    assert done.wait(10)
    child.join(10)
    assert child.exitcode == 0


def test_threads_of_one_process_take_turns(tmp_path):
    queue = writer_queue_for(f"sqlite:///{tmp_path}/app.db")
    inside, overlaps = [0], []

    def write() -> None:
        for _ in range(50):
            with queue.turn():
                inside[0] += 1
                overlaps.append(inside[0])
                time.sleep(0.0005)
                inside[0] -= 1

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(overlaps) == 200 and set(overlaps) == {1}


def test_autocommit_reads_while_a_writer_holds_the_lock(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/app.db")
    try:
        with db.write() as session:
            session.connection().exec_driver_sql("CREATE TABLE t (v INTEGER)")
        with db.write() as session:
            session.connection().exec_driver_sql("INSERT INTO t VALUES (1)")
            with db.autocommit() as connection:  # WAL: the committed state, no waiting
                assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
        with db.autocommit() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1
    finally:
        db.dispose()


@pytest.fixture
def postgres_url(postgres, postgres_template):
    postgres.create_database("tz_test_db_hangup", template=postgres_template)
    yield postgres.url("tz_test_db_hangup")
    postgres.drop_database("tz_test_db_hangup")


def test_a_connection_the_server_ended_is_replaced_without_an_error(postgres_url):
    """What a PostgreSQL restart does to pooled connections: the server ends
    their backends. The next checkout must hand out a live connection."""
    database = Database(postgres_url)
    database_url = postgres_url
    try:
        with database.autocommit() as connection:
            pooled_pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with database.write() as session:  # the other pool, idle too
            session.execute(text("SELECT 1"))
        with psycopg.connect(make_url(database_url).set(drivername="postgresql")
                             .render_as_string(hide_password=False), autocommit=True) as admin:
            # With a timeout, pg_terminate_backend returns once each backend has
            # exited (its error sent, its socket closed), as after a restart;
            # without one, a checkout could race the backend's own exit.
            ended = admin.execute(
                "SELECT count(*) FROM pg_stat_activity, pg_terminate_backend(pid, 10000) "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
        assert ended >= 2
        with database.autocommit() as connection:
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        assert pid != pooled_pid
        with database.write() as session:
            assert session.execute(text("SELECT 1")).scalar() == 1
    finally:
        database.dispose()
