"""Alerts: each new event POSTed as JSON to a webhook from a thread of its own (the camera loop never
waits on it), retried with backoff, at most one per camera per config.ALERT_MIN_INTERVAL_S; the
alerts held back are counted and said in the next one, and failures are reported, never dropped silently."""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from facemask import config
from facemask.cameras.store import EventRecord, iso
from facemask.errors import FacemaskError
from facemask.redaction import redact, redact_webhook


def payload(event: EventRecord, held_back: int = 0) -> dict:
    """The JSON body of one alert."""
    return {"source": "facemask", "kind": "event", "camera": event.camera, "time": iso(event.start),
            "label": event.label, "score": round(float(event.score), 4), "box": [int(v) for v in event.box],
            "duration_s": round(float(event.duration_s), 2), "event": event.uid,
            # the same on every try of this alert (and in the Idempotency-Key header): a receiver that got
            # a try whose answer was lost drops the next one
            "idempotency_key": event.uid, "held_back_since_last": held_back}


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class WebhookAlerter:
    """POSTs alerts to `url`. `send(event)` returns at once; `close()` waits for what is queued."""

    def __init__(self, url: str, min_interval_s: float = config.ALERT_MIN_INTERVAL_S,
                 retries: int = config.ALERT_RETRIES, backoff_s: float = config.ALERT_BACKOFF_S,
                 timeout_s: float = config.ALERT_TIMEOUT_S, say: Callable[[str], None] = _say,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not url.lower().startswith(("http://", "https://")):
            raise FacemaskError(f"--webhook {redact_webhook(url)}: give an http:// or https:// URL.")
        self.url, self.name = url, redact_webhook(url)  # its path and query may be the secret
        self.min_interval_s, self.retries = min_interval_s, retries
        self.backoff_s, self.timeout_s = backoff_s, timeout_s
        self.say, self.clock = say, clock
        self.sent = self.failed = self.held_back = 0
        self._last_sent: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._queue: queue.Queue = queue.Queue(maxsize=config.ALERT_QUEUE)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)
        self._thread.start()

    def send(self, event: EventRecord) -> bool:
        """Queue an alert for `event` unless its camera had one less than min_interval_s ago; whether queued."""
        now = self.clock()
        last = self._last_sent.get(event.camera)
        if last is not None and now - last < self.min_interval_s:
            self._held[event.camera] = self._held.get(event.camera, 0) + 1
            self.held_back += 1
            return False
        self._last_sent[event.camera] = now
        try:
            self._queue.put_nowait(payload(event, self._held.pop(event.camera, 0)))
            return True
        except queue.Full:
            self.failed += 1
            self.say(f"webhook {self.name}: {config.ALERT_QUEUE} alerts waiting; the alert for {event.camera} "
                     f"at {iso(event.start)} is not sent (the event is in the store)")
            return False

    def _post(self, body: dict) -> None:
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "facemask",
                                                  "Idempotency-Key": str(body["idempotency_key"])})
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            response.read()

    def _run(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            try:
                body = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            for attempt in range(self.retries + 1):
                try:
                    self._post(body)
                    self.sent += 1
                    break
                except (urllib.error.URLError, OSError, ValueError) as exc:
                    code = getattr(exc, "code", None)
                    reason = redact(f"HTTP {code}" if code else getattr(exc, "reason", None) or exc)
                    final = attempt == self.retries or (code is not None and 400 <= code < 500 and code != 429)
                    if final:
                        self.failed += 1
                        self.say(f"webhook {self.name}: alert for {body['camera']} at {body['time']} not delivered "
                                 f"after {attempt + 1} tries ({reason}); the event is in the store")
                        break
                    wait = self.backoff_s * 2 ** attempt
                    self.say(f"webhook {self.name}: {reason}; retry {attempt + 1} of {self.retries} in {wait:g} s")
                    self._stop.wait(wait)  # when closing, the remaining tries follow at once
            self._queue.task_done()

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to `timeout` seconds), then stop the thread."""
        self._stop.set()
        self._thread.join(timeout)
