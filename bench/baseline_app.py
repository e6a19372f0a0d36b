"""The API benchmark's baseline: a bare Flask app whose one POST endpoint
inserts one row and answers 201 with JSON.

It is what ``bench/api_bench.py`` compares the Tradezone API with: the same
gunicorn (worker class and count), the same load generator and request body,
the same database engine as the app (``app.db.make_engine``: on SQLite WAL,
synchronous=FULL, busy_timeout, and the app writers' queue and ``BEGIN IMMEDIATE``),
but no authentication, validation, notarization or signing: one SQLAlchemy
Core ``INSERT`` of the request body per request, in its own transaction.

Served by the benchmark as ``gunicorn ... baseline_app:app`` with
``BASELINE_DATABASE_URL`` set; the benchmark creates the table beforehand
(``python bench/baseline_app.py --create URL``), so workers never race to.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flask import Flask, jsonify, request  # noqa: E402
from sqlalchemy import (  # noqa: E402
    BigInteger, Column, Float, Integer, LargeBinary, MetaData, Table, func, insert, select,
)

import app.db as app_db  # noqa: E402

URL_VARIABLE = "BASELINE_DATABASE_URL"

metadata = MetaData()
rows = Table(
    "baseline_rows", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("body", LargeBinary, nullable=False),
    Column("received_at", Float, nullable=False),
)

# The app's writers queue on a lock file and begin with BEGIN IMMEDIATE on SQLite
# (app.db.Database.write); the baseline's single write transaction does the same.
_WRITE_OPTIONS = {getattr(app_db, "_WRITE_OPTION", "tradezone_write"): True}


def create_schema(url: str) -> None:
    engine = app_db.make_engine(url)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()


def count_rows(url: str) -> int:
    engine = app_db.make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(rows)).scalar_one()
    finally:
        engine.dispose()


def create_app(url: str | None = None) -> Flask:
    url = url or os.environ[URL_VARIABLE]
    engine = app_db.make_engine(url).execution_options(**_WRITE_OPTIONS)
    queue = app_db.writer_queue_for(url)
    flask_app = Flask(__name__)

    @flask_app.post("/rows")
    def insert_row():
        with queue.turn() if queue else nullcontext(), engine.begin() as connection:
            row_id = connection.execute(
                insert(rows).values(body=request.get_data(), received_at=time.time())
            ).inserted_primary_key[0]
        return jsonify(id=row_id), 201

    @flask_app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    return flask_app


if os.environ.get(URL_VARIABLE):
    app = create_app()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--create":
        create_schema(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "--count":
        print(count_rows(sys.argv[2]))
    else:
        sys.exit("usage: baseline_app.py --create URL | --count URL")
