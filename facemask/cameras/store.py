"""The record of what the cameras saw (SQLAlchemy): events, per-minute counts and camera status, in a
SQLite file by default or any SQLAlchemy database (PostgreSQL to share it between machines). The
project creates and upgrades its own schema; the watcher writes, the CLI and the Monitor page read."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from facemask import config
from facemask.errors import FacemaskError
from facemask.redaction import redact

SCHEMA_VERSION = 1
# version n -> the step that upgrades a database from n - 1 to n (run in order, each in its own transaction);
# a step adds what the new version needs to existing tables (new tables are made by create_all)
UPGRADES: dict[int, Callable[[Connection], None]] = {}

metadata = sa.MetaData()
schema_table = sa.Table("facemask_schema", metadata, sa.Column("version", sa.Integer, nullable=False))
events_table = sa.Table(
    "facemask_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uid", sa.String(32), nullable=False, unique=True),  # made by the watcher: a rewrite updates
    sa.Column("camera", sa.String(200), nullable=False, index=True),
    sa.Column("start", sa.DateTime, nullable=False, index=True),  # UTC
    sa.Column("duration_s", sa.Float, nullable=False),
    sa.Column("label", sa.String(32), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("frames", sa.Integer, nullable=False),
    sa.Column("track_id", sa.Integer),
    sa.Column("x1", sa.Integer), sa.Column("y1", sa.Integer), sa.Column("x2", sa.Integer), sa.Column("y2", sa.Integer),
    sa.Column("blurred", sa.Boolean, nullable=False),
    sa.Column("face_jpeg", sa.LargeBinary),
    sa.Column("frame_jpeg", sa.LargeBinary),
)
COUNT_FIELDS = ("frames", "faces", *config.CLASS_NAMES)
counts_table = sa.Table(
    "facemask_minute_counts", metadata,
    sa.Column("camera", sa.String(200), primary_key=True),
    sa.Column("minute", sa.DateTime, primary_key=True),  # UTC, start of the minute
    *(sa.Column(name, sa.Integer, nullable=False) for name in COUNT_FIELDS),
)
status_table = sa.Table(
    "facemask_camera_status", metadata,
    sa.Column("camera", sa.String(200), primary_key=True),
    sa.Column("source", sa.String(1000), nullable=False),  # redacted
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("reason", sa.String(1000), nullable=False),
    sa.Column("fps", sa.Float, nullable=False),
    sa.Column("last_frame_at", sa.DateTime),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("people", sa.Integer, nullable=False),
    sa.Column("events", sa.Integer, nullable=False),
)

EVENT_FIELDS = ("id", "camera", "time", "label", "score", "box", "duration_s", "frames", "track_id", "blurred")


class StoreUnavailable(FacemaskError):
    """The database did not answer or refused the write: the watcher keeps its records and retries."""


# --- what the watcher writes ----------------------------------------------------------------------

@dataclass
class EventRecord:
    """A tracked face judged without a mask or with the mask worn incorrectly. Written again under the
    same uid when its track ends (duration, final vote)."""

    camera: str
    start: datetime
    duration_s: float
    label: str
    score: float
    box: tuple[int, int, int, int]
    frames: int = 1
    track_id: int | None = None
    face_jpeg: bytes | None = None
    frame_jpeg: bytes | None = None
    blurred: bool = False
    uid: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class MinuteCounts:
    """Added to the camera's row for that minute: frames sampled, faces seen in them, faces per class."""

    camera: str
    minute: datetime
    counts: dict[str, int]


@dataclass
class CameraStatus:
    """The camera's latest state; `source` and `reason` are redacted before they are stored."""

    camera: str
    source: str
    state: str
    reason: str = ""
    fps: float = 0.0
    last_frame_at: datetime | None = None
    updated_at: datetime = field(default_factory=lambda: utcnow())
    people: int = 0
    events: int = 0


Record = EventRecord | MinuteCounts | CameraStatus


def records_text(count: int) -> str:
    """'1 record', '3 records'."""
    return f"{count} record" if count == 1 else f"{count} records"


# --- time: stored as naive UTC, shown as ISO 8601 with Z ------------------------------------------

def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def to_utc(moment: datetime | str | float) -> datetime:
    """An aware UTC datetime from a datetime (naive = UTC), an ISO 8601 string or epoch seconds."""
    if isinstance(moment, (int, float)):
        return datetime.fromtimestamp(moment, timezone.utc)
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise FacemaskError(f"{moment!r} is not an ISO 8601 time (e.g. 2026-12-01T09:30:00Z).") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else to_utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _naive(moment: datetime | str | float) -> datetime:
    return to_utc(moment).replace(tzinfo=None)


def minute_of(moment: datetime) -> datetime:
    """The start of the UTC minute that holds `moment`."""
    return to_utc(moment).replace(second=0, microsecond=0)


# --- the store ------------------------------------------------------------------------------------

def make_engine(url: str) -> Engine:
    """An engine for any SQLAlchemy URL; SQLite files get their folder, WAL and a connection per use
    (so a file that goes away is noticed at once), network databases a connect timeout."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise FacemaskError(f"{redact(url)} is not a database URL (e.g. sqlite:///facemask.db or "
                            "postgresql+psycopg://user:password@host/facemask).") from None
    options: dict = {"pool_pre_ping": True}
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            options = {"poolclass": NullPool}
        options["connect_args"] = {"timeout": 10}
    elif backend in ("postgresql", "mysql", "mariadb"):
        options["connect_args"] = {"connect_timeout": 10}
    try:
        engine = sa.create_engine(parsed, **options)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise FacemaskError(f"can't use the database {redact(url)}: {redact(exc)}. Is its driver installed?") from None
    if backend == "sqlite":
        @sa.event.listens_for(engine, "connect")
        def _sqlite_settings(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # the page reads while the watcher writes
            cursor.close()
    return engine


class Store:
    """Events, per-minute counts and camera status in one database. `Store()` opens the default
    SQLite file (config.DEFAULT_DB_URL); the schema is made or upgraded on opening."""

    def __init__(self, url: str | None = None, create: bool = True) -> None:
        self.url = url or config.DEFAULT_DB_URL
        self.name = redact(self.url)
        self.tables_remade = 0  # times a write found the tables gone (a deleted SQLite file) and made them again
        self.engine = make_engine(self.url)
        if create:
            self.ensure_schema()

    def __repr__(self) -> str:
        return f"Store({self.name})"

    def _fail(self, exc: Exception, doing: str) -> StoreUnavailable:
        reason = redact(str(getattr(exc, "orig", None) or exc)).splitlines()[0]
        return StoreUnavailable(f"database {self.name}: can't {doing} ({reason}).")

    # schema
    def ensure_schema(self) -> int:
        """Make missing tables, then run the upgrade steps from the stored version; the version."""
        try:
            metadata.create_all(self.engine)
            with self.engine.begin() as conn:
                version = conn.execute(sa.select(sa.func.max(schema_table.c.version))).scalar()
                if version is None:
                    conn.execute(schema_table.insert().values(version=SCHEMA_VERSION))
                    return SCHEMA_VERSION
            if version > SCHEMA_VERSION:
                raise FacemaskError(f"database {self.name} has schema version {version}, made by a newer "
                                    f"facemask (this one knows up to {SCHEMA_VERSION}): upgrade facemask.")
            for step in range(version + 1, SCHEMA_VERSION + 1):
                with self.engine.begin() as conn:
                    UPGRADES[step](conn)
                    conn.execute(schema_table.update().values(version=step))
            return SCHEMA_VERSION
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc, "create or upgrade its tables") from None

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(schema_table.c.version))).scalar())

    # writing
    def write(self, records: Iterable[Record]) -> None:
        """Write events, counts and statuses in one transaction; raises StoreUnavailable (nothing
        written) when the database can't take them, so the caller can keep them and retry."""
        records = list(records)
        if not records:
            return
        for attempt in range(2):
            try:
                with self.engine.begin() as conn:
                    for record in records:
                        if isinstance(record, EventRecord):
                            self._write_event(conn, record)
                        elif isinstance(record, MinuteCounts):
                            self._add_counts(conn, record)
                        else:
                            self._write_status(conn, record)
                return
            except sa.exc.OperationalError as exc:
                # a SQLite file deleted while in use comes back empty on the next connection: make its tables
                # again (once) rather than fail every write until a restart
                if attempt or "no such table" not in str(exc.orig):
                    raise self._fail(exc, f"write {records_text(len(records))}") from None
                self.ensure_schema()
                self.tables_remade += 1
            except sa.exc.SQLAlchemyError as exc:
                raise self._fail(exc, f"write {records_text(len(records))}") from None

    @staticmethod
    def _write_event(conn: Connection, event: EventRecord) -> None:
        x1, y1, x2, y2 = (int(v) for v in event.box)
        values = {"camera": event.camera, "start": _naive(event.start), "duration_s": float(event.duration_s),
                  "label": event.label, "score": float(event.score), "frames": int(event.frames),
                  "track_id": event.track_id, "x1": x1, "y1": y1, "x2": x2, "y2": y2,
                  "blurred": bool(event.blurred), "face_jpeg": event.face_jpeg, "frame_jpeg": event.frame_jpeg}
        done = conn.execute(events_table.update().where(events_table.c.uid == event.uid).values(**values))
        if done.rowcount == 0:
            conn.execute(events_table.insert().values(uid=event.uid, **values))

    @staticmethod
    def _add_counts(conn: Connection, counts: MinuteCounts) -> None:
        minute = _naive(minute_of(counts.minute))
        delta = {name: int(counts.counts.get(name, 0)) for name in COUNT_FIELDS}
        key = (counts_table.c.camera == counts.camera) & (counts_table.c.minute == minute)
        done = conn.execute(counts_table.update().where(key).values(
            **{name: counts_table.c[name] + value for name, value in delta.items()}))
        if done.rowcount == 0:
            conn.execute(counts_table.insert().values(camera=counts.camera, minute=minute, **delta))

    @staticmethod
    def _write_status(conn: Connection, status: CameraStatus) -> None:
        values = {"source": redact(status.source)[:1000], "state": status.state,
                  "reason": redact(status.reason)[:1000], "fps": float(status.fps),
                  "last_frame_at": None if status.last_frame_at is None else _naive(status.last_frame_at),
                  "updated_at": _naive(status.updated_at), "people": int(status.people),
                  "events": int(status.events)}
        done = conn.execute(status_table.update().where(status_table.c.camera == status.camera).values(**values))
        if done.rowcount == 0:
            conn.execute(status_table.insert().values(camera=status.camera, **values))

    # reading
    def _read(self, query) -> list:
        try:
            with self.engine.connect() as conn:
                return list(conn.execute(query))
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc, "read") from None

    def events(self, camera: str | list[str] | None = None, since: datetime | str | None = None,
               until: datetime | str | None = None, limit: int | None = None, images: bool = False,
               newest_first: bool = False) -> list[dict]:
        """Stored events (fields EVENT_FIELDS; face_jpeg and frame_jpeg too when `images`), oldest first
        unless `newest_first`, filtered by camera and by start time."""
        columns = [c for c in events_table.c if images or c.name not in ("face_jpeg", "frame_jpeg")]
        query = sa.select(*columns)
        query = _filter(query, events_table.c.camera, events_table.c.start, camera, since, until)
        order = events_table.c.start.desc() if newest_first else events_table.c.start
        query = query.order_by(order, events_table.c.id.desc() if newest_first else events_table.c.id)
        if limit is not None:
            query = query.limit(int(limit))
        return [_event_dict(row._mapping, images) for row in self._read(query)]

    def event_images(self, event_id: int) -> tuple[bytes | None, bytes | None]:
        """(face JPEG, frame thumbnail JPEG) of one event."""
        rows = self._read(sa.select(events_table.c.face_jpeg, events_table.c.frame_jpeg)
                          .where(events_table.c.id == int(event_id)))
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    def minute_counts(self, camera: str | list[str] | None = None, since: datetime | str | None = None,
                      until: datetime | str | None = None) -> list[dict]:
        """Per-camera, per-minute counts, oldest first: camera, minute (ISO), frames, faces and each class."""
        query = _filter(sa.select(counts_table), counts_table.c.camera, counts_table.c.minute, camera, since, until)
        rows = self._read(query.order_by(counts_table.c.minute, counts_table.c.camera))
        return [{**dict(row._mapping), "minute": iso(row.minute)} for row in rows]

    def camera_statuses(self) -> list[dict]:
        """Each camera's latest status; `age_s` is the age of its last frame now (None when it had none)."""
        now = utcnow()
        rows = self._read(sa.select(status_table).order_by(status_table.c.camera))
        out = []
        for row in rows:
            item = dict(row._mapping)
            last = item["last_frame_at"]
            item["age_s"] = None if last is None else round((now - to_utc(last)).total_seconds(), 1)
            item["last_frame_at"], item["updated_at"] = iso(last), iso(item["updated_at"])
            out.append(item)
        return out

    def cameras(self) -> list[str]:
        """Every camera named in the store (events, counts or status)."""
        names = set()
        for table in (events_table, counts_table, status_table):
            names |= {row[0] for row in self._read(sa.select(table.c.camera).distinct())}
        return sorted(names)

    # retention
    def purge(self, days: float = config.RETENTION_DAYS, now: datetime | None = None) -> dict[str, int]:
        """Delete events and counts older than `days`; how many rows of each went."""
        cutoff = _naive((now or utcnow()) - timedelta(days=days))
        try:
            with self.engine.begin() as conn:
                gone_events = conn.execute(events_table.delete().where(events_table.c.start < cutoff)).rowcount
                gone_counts = conn.execute(counts_table.delete().where(counts_table.c.minute < cutoff)).rowcount
        except sa.exc.SQLAlchemyError as exc:
            raise self._fail(exc, "delete old records") from None
        return {"events": int(gone_events), "minute_counts": int(gone_counts)}

    def close(self) -> None:
        self.engine.dispose()


def _filter(query, camera_column, time_column, camera, since, until):
    if camera:
        query = query.where(camera_column.in_([camera] if isinstance(camera, str) else list(camera)))
    if since is not None:
        query = query.where(time_column >= _naive(since))
    if until is not None:
        query = query.where(time_column < _naive(until))
    return query


def _event_dict(row, images: bool) -> dict:
    out = {"id": row["id"], "camera": row["camera"], "time": iso(row["start"]), "label": row["label"],
           "score": round(float(row["score"]), 4), "box": [row["x1"], row["y1"], row["x2"], row["y2"]],
           "duration_s": round(float(row["duration_s"]), 2), "frames": row["frames"], "track_id": row["track_id"],
           "blurred": bool(row["blurred"])}
    if images:
        out["face_jpeg"], out["frame_jpeg"] = row["face_jpeg"], row["frame_jpeg"]
    return out


# --- export ---------------------------------------------------------------------------------------

def events_to_json(events: list[dict]) -> str:
    """Events as a JSON list (no pictures)."""
    return json.dumps([{k: e[k] for k in EVENT_FIELDS} for e in events], indent=2)


def events_to_csv(events: list[dict]) -> str:
    """One CSV row per event; the box as x1, y1, x2, y2 columns."""
    fields = [f for f in EVENT_FIELDS if f != "box"] + ["x1", "y1", "x2", "y2"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for event in events:
        row = {k: event[k] for k in EVENT_FIELDS if k != "box"}
        row.update(zip(("x1", "y1", "x2", "y2"), event["box"]))
        writer.writerow(row)
    return buffer.getvalue()
