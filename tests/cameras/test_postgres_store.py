"""The event store (facemask/cameras/store.py) on a real PostgreSQL server started by the tests (`postgres` in
conftest.py): its schema made once, events written and read back with `facemask events --db postgresql://`,
the password never shown, a wrong one refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from facemask import config
from facemask.cameras.store import SCHEMA_VERSION, EventRecord, MinuteCounts, Store

pytest.importorskip("psycopg", reason="the PostgreSQL driver is the [postgres] extra: bash setup.sh --dev")

import postgres_kit  # noqa: E402  (after the skip: it needs psycopg)

T0 = datetime(2026, 12, 1, 9, 30, 15, tzinfo=timezone.utc)


def facemask(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facemask.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=config.ROOT)


def event(camera: str, start: datetime, label: str = "without_mask") -> EventRecord:
    return EventRecord(camera=camera, start=start, duration_s=3.5, label=label, score=0.77, box=(12, 24, 96, 120),
                       frames=18, track_id=5, face_jpeg=b"\xff\xd8face", frame_jpeg=b"\xff\xd8frame")


@pytest.fixture
def store(postgres):
    """The store on a fresh database of the session's server (dropped afterwards)."""
    name = f"t{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    url = postgres.url().rsplit("/", 1)[0] + f"/{name}"
    db = Store(url)
    yield db
    db.close()
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


def test_store_makes_its_schema_once_on_a_real_postgresql_server(store):
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"facemask_schema", "facemask_events", "facemask_minute_counts", "facemask_camera_status"} <= tables
    assert store.engine.dialect.name == "postgresql"
    again = Store(store.url)  # a second process opening the same database finds the schema made
    assert again.schema_version() == SCHEMA_VERSION
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM facemask_schema")).scalar() == 1
    again.close()


def test_events_written_are_read_back_by_facemask_events_db_postgresql(store):
    store.write([event("door", T0), event("hall", T0 + timedelta(minutes=2), "mask_worn_incorrectly"),
                 MinuteCounts("door", T0, {"frames": 5, "faces": 2, "with_mask": 1, "without_mask": 1,
                                           "mask_worn_incorrectly": 0})])
    result = facemask("events", "--db", store.url, "--json")
    assert result.returncode == 0, result.stderr
    events = json.loads(result.stdout)
    assert [(e["camera"], e["label"]) for e in events] == [("door", "without_mask"), ("hall", "mask_worn_incorrectly")]
    assert events[0]["time"] == "2026-12-01T09:30:15.000Z" and events[0]["box"] == [12, 24, 96, 120]
    assert events[0]["duration_s"] == 3.5 and events[0]["score"] == 0.77
    only_hall = json.loads(facemask("events", "--db", store.url, "--camera", "hall", "--json").stdout)
    assert [e["camera"] for e in only_hall] == ["hall"]
    assert store.minute_counts(camera="door")[0]["faces"] == 2
    table = facemask("events", "--db", store.url)
    assert "2 events in postgresql://***@127.0.0.1" in table.stdout, table.stdout
    for text in (result.stdout, result.stderr, table.stdout, table.stderr):
        assert postgres_kit.PASSWORD not in text


def test_a_wrong_password_is_refused_in_one_line_that_shows_no_password(postgres):
    result = facemask("events", "--db", postgres.url(password="not-the-password"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: database postgresql://***@127.0.0.1"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "not-the-password" not in result.stdout + result.stderr
