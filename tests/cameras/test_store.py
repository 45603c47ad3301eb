"""The store on a real SQLite file: events, per-minute counts, camera status, retention, export, schema."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from facemask.cameras import store as store_module
from facemask.cameras.store import CameraStatus, EventRecord, MinuteCounts, Store, StoreUnavailable
from facemask.errors import FacemaskError

T0 = datetime(2026, 12, 1, 9, 30, 15, tzinfo=timezone.utc)


def event(camera="door", start=T0, **changes) -> EventRecord:
    values = dict(camera=camera, start=start, duration_s=2.5, label="without_mask", score=0.81,
                  box=(10, 20, 110, 140), frames=12, track_id=3, face_jpeg=b"\xff\xd8face", frame_jpeg=b"\xff\xd8frame")
    values.update(changes)
    return EventRecord(**values)


@pytest.fixture
def db(tmp_path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'facemask.db'}")
    yield store
    store.close()


def test_events_are_read_back_filtered_by_camera_and_time(db):
    db.write([event("door"), event("hall", start=T0 + timedelta(minutes=5), label="mask_worn_incorrectly")])
    [door] = db.events(camera="door")
    assert door["camera"] == "door" and door["time"] == "2026-12-01T09:30:15.000Z"
    assert door["label"] == "without_mask" and door["score"] == 0.81 and door["box"] == [10, 20, 110, 140]
    assert door["duration_s"] == 2.5
    assert [e["camera"] for e in db.events(since="2026-12-01T09:31:00Z")] == ["hall"]
    assert [e["camera"] for e in db.events(newest_first=True)] == ["hall", "door"]
    assert db.event_images(door["id"]) == (b"\xff\xd8face", b"\xff\xd8frame")
    assert db.cameras() == ["door", "hall"]


def test_an_event_written_again_under_its_uid_is_updated_not_duplicated(db):
    first = event(duration_s=0.4)
    db.write([first])
    first.duration_s, first.frames = 7.0, 35
    db.write([first])
    [stored] = db.events()
    assert stored["duration_s"] == 7.0 and stored["frames"] == 35


def test_minute_counts_add_up_per_camera_and_minute(db):
    counts = {"frames": 5, "faces": 4, "with_mask": 3, "without_mask": 1, "mask_worn_incorrectly": 0}
    db.write([MinuteCounts("door", T0, counts), MinuteCounts("door", T0 + timedelta(seconds=20), counts),
              MinuteCounts("door", T0 + timedelta(minutes=1), counts)])
    rows = db.minute_counts(camera="door")
    assert [r["minute"] for r in rows] == ["2026-12-01T09:30:00.000Z", "2026-12-01T09:31:00.000Z"]
    assert rows[0]["faces"] == 8 and rows[0]["with_mask"] == 6 and rows[0]["frames"] == 10
    assert rows[1]["faces"] == 4


def test_camera_status_is_replaced_and_never_holds_a_password(db):
    db.write([CameraStatus("door", "rtsp://user:secret@127.0.0.1:8554/door", "reconnecting",
                           reason="rtsp://user:secret@127.0.0.1:8554/door: Connection refused")])
    db.write([CameraStatus("door", "rtsp://user:secret@127.0.0.1:8554/door", "connected", fps=4.9,
                           last_frame_at=datetime.now(timezone.utc))])
    [status] = db.camera_statuses()
    assert status["state"] == "connected" and status["fps"] == 4.9 and status["age_s"] < 60
    assert status["source"] == "rtsp://***@127.0.0.1:8554/door"
    with db.engine.connect() as conn:
        dump = repr([list(conn.execute(sa.select(t))) for t in store_module.metadata.sorted_tables])
    assert "secret" not in dump


def test_retention_deletes_only_what_is_older_than_its_days(db):
    old, new = T0 - timedelta(days=31), T0 - timedelta(days=29)
    counts = {"frames": 1, "faces": 1, "without_mask": 1}
    db.write([event(start=old), event(start=new), MinuteCounts("door", old, counts), MinuteCounts("door", new, counts)])
    assert db.purge(days=30, now=T0) == {"events": 1, "minute_counts": 1}
    assert [e["time"][:10] for e in db.events()] == [new.date().isoformat()]
    assert len(db.minute_counts()) == 1


def test_export_has_every_event_field_as_json_and_csv(db):
    db.write([event(), event(camera="hall")])
    events = db.events()
    as_json = json.loads(store_module.events_to_json(events))
    assert {"camera", "time", "label", "score", "box", "duration_s"} <= set(as_json[0])
    rows = list(csv.DictReader(io.StringIO(store_module.events_to_csv(events))))
    assert [r["camera"] for r in rows] == ["door", "hall"]
    assert rows[0]["x2"] == "110" and rows[0]["time"] == "2026-12-01T09:30:15.000Z"


def test_upgrade_step_runs_once_on_an_older_database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    Store(url).write([event()])
    calls = []

    def add_note_column(conn) -> None:
        calls.append(1)
        conn.execute(sa.text("ALTER TABLE facemask_events ADD COLUMN note VARCHAR(100)"))

    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(store_module.UPGRADES, 2, add_note_column)
    upgraded = Store(url)
    assert upgraded.schema_version() == 2 and calls == [1]
    Store(url)
    assert calls == [1], "the upgrade step ran again on an upgraded database"
    assert len(upgraded.events()) == 1


def test_a_database_from_a_newer_facemask_is_refused_with_a_message(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    with Store(url).engine.begin() as conn:
        conn.execute(store_module.schema_table.update().values(version=99))
    with pytest.raises(FacemaskError, match="newer facemask"):
        Store(url)


def test_a_database_that_goes_away_refuses_writes_then_takes_them_when_back(tmp_path):
    folder = tmp_path / "dbdir"
    db = Store(f"sqlite:///{folder / 'facemask.db'}")
    db.write([event()])
    shutil.move(folder, tmp_path / "away")
    folder.write_text("not a folder")  # the database's folder is gone: nothing can open the file
    with pytest.raises(StoreUnavailable, match="can't write 1 record "):
        db.write([event(camera="hall")])
    folder.unlink()
    shutil.move(tmp_path / "away", folder)
    db.write([event(camera="hall")])
    assert [e["camera"] for e in db.events()] == ["door", "hall"]


def test_a_url_that_is_not_a_database_gets_a_message_without_its_password():
    with pytest.raises(FacemaskError) as info:
        Store("nosuchdb+driver://user:secret@127.0.0.1/facemask")
    assert "secret" not in str(info.value) and "***" in str(info.value)
    with pytest.raises(FacemaskError, match="not a database URL"):
        Store("::not a url::")


def test_a_sqlite_file_deleted_while_in_use_is_made_again_on_the_next_write(db, tmp_path):
    db.write([event()])
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"facemask.db{suffix}").unlink(missing_ok=True)
    db.write([event(camera="hall")])  # once "no such table" until a restart
    assert db.tables_remade == 1
    assert [e["camera"] for e in db.events()] == ["hall"] and db.schema_version() == store_module.SCHEMA_VERSION
    db.write([event(camera="yard")])
    assert db.tables_remade == 1 and len(db.events()) == 2
