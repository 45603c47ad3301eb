"""What the Monitor page shows, read from the store: camera status, compliance per minute, recent
events and the newest one (the alert), and who may look (the page's password). No SQL, no Streamlit
widgets here: the page lays these out."""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from datetime import datetime, timedelta

import pandas as pd

from facemask import config
from facemask.cameras.store import Store, iso, to_utc, utcnow

WINDOWS = {"Last 15 minutes": timedelta(minutes=15), "Last hour": timedelta(hours=1),
           "Last 6 hours": timedelta(hours=6), "Last 24 hours": timedelta(days=1),
           "Last 7 days": timedelta(days=7), "Everything kept": None}
STATE_TEXT = {"connected": "Connected", "reconnecting": "Reconnecting", "connecting": "Connecting",
              "ended": "Video ended", "stopped": "Stopped"}


def open_store(url: str | None = None) -> Store:
    """The store the watcher writes (config.DEFAULT_DB_URL unless told)."""
    return Store(url or config.DEFAULT_DB_URL)


def configured_password(secrets: Mapping | None = None, environ: Mapping | None = None) -> str | None:
    """The Monitor page's password: Streamlit's secret config.MONITOR_PASSWORD_SECRET, else the environment
    variable config.MONITOR_PASSWORD_ENV; None (no password asked) when neither is set."""
    try:
        value = (secrets or {}).get(config.MONITOR_PASSWORD_SECRET)
    except Exception:  # noqa: BLE001 - no secrets file: Streamlit raises on reading it
        value = None
    value = value or (os.environ if environ is None else environ).get(config.MONITOR_PASSWORD_ENV)
    return str(value) if value else None


def password_matches(given: str, expected: str) -> bool:
    """Compared in constant time, so the answer's timing says nothing about the password."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def since_for(window: str, now: datetime | None = None) -> datetime | None:
    span = WINDOWS.get(window)
    return None if span is None else (now or utcnow()) - span


def camera_rows(store: Store, now: datetime | None = None) -> list[dict]:
    """One row per camera for the status table: names only, never a source URL."""
    now = now or utcnow()
    rows = []
    for status in store.camera_statuses():
        updated = to_utc(status["updated_at"])
        stale = (now - updated).total_seconds() > config.MONITOR_STALE_S and status["state"] not in ("ended",
                                                                                                      "stopped")
        state = STATE_TEXT.get(status["state"], status["state"])
        if stale:
            state = f"No watcher (last heard {_ago((now - updated).total_seconds())} ago)"
        age = status["age_s"]
        rows.append({"Camera": status["camera"], "State": state, "Why": status["reason"] or "",
                     "Frames per second": round(status["fps"], 1) if not stale else 0.0,
                     "Last frame": "never" if age is None else f"{_ago(age)} ago",
                     "People seen": status["people"], "Events": status["events"]})
    return rows


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def compliance(store: Store, cameras: list[str] | None = None, since: datetime | None = None) -> pd.DataFrame:
    """Per minute (all chosen cameras together): faces seen with each label, and the share with a mask.
    Empty frame when nothing was counted."""
    rows = store.minute_counts(camera=cameras or None, since=since)
    columns = ["minute", "faces", *config.CLASS_NAMES, "with mask %"]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    frame["minute"] = pd.to_datetime(frame["minute"], utc=True)
    frame = frame.groupby("minute", as_index=False)[["faces", *config.CLASS_NAMES]].sum()
    frame["with mask %"] = (100 * frame["with_mask"] / frame["faces"].where(frame["faces"] > 0)).round(1)
    return frame[columns]


def recent_events(store: Store, cameras: list[str] | None = None, since: datetime | None = None,
                  limit: int = 24) -> list[dict]:
    """The newest events first, with their snapshots."""
    return store.events(camera=cameras or None, since=since, limit=limit, images=True, newest_first=True)


def newest_event(store: Store, cameras: list[str] | None = None) -> dict | None:
    events = store.events(camera=cameras or None, limit=1, newest_first=True, images=True)
    return events[0] if events else None


def event_caption(event: dict) -> str:
    """'Without mask · door · 2026-12-01 10:31:02 UTC · 4.2 s · score 0.91'."""
    moment = to_utc(event["time"]).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (f"{config.CLASS_TITLES.get(event['label'], event['label'])} · {event['camera']} · {moment} · "
            f"{event['duration_s']:.1f} s · score {event['score']:.2f}")


__all__ = ["WINDOWS", "camera_rows", "compliance", "configured_password", "event_caption", "iso",
           "newest_event", "open_store", "password_matches", "recent_events", "since_for"]
