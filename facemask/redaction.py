"""Camera, database and webhook URLs carry secrets: every message, log line, status, event and page shows
them through `redact`, which hides each URL's user part and its secret query parameters. A password may hold
`/ ? # : @` unescaped (SQLAlchemy and the cameras accept it): the user part is everything up to the last @
before the URL ends, and a database URL is read by SQLAlchemy's own parser, as the store reads it."""

from __future__ import annotations

import re

HIDDEN = "***"
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d+)?$")  # host[:port], nothing else
# a URL in a message: scheme:// up to the next white space or quote
_URL = re.compile(r"(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>[^\s'\"<>]*)")
# query keys whose values are secrets (cameras and databases take credentials as parameters too)
_SECRET_KEY = re.compile(r"user|pass|pwd|^pw$|token|secret|key|auth|sig|credential|session|cookie", re.IGNORECASE)
_QUERY = re.compile(r"(?P<lead>[?&;])(?P<key>[^=&;#\s]+)=(?P<value>[^&;#\s]*)")
# SQLAlchemy dialects the store may be given (`--db`, FACEMASK_DB_URL)
_DATABASE_SCHEMES = re.compile(r"^(?:postgres(?:ql)?|sqlite|mysql|mariadb|oracle|mssql|cockroachdb)(?:\+\w+)?$",
                               re.IGNORECASE)


def redact(text: object) -> str:
    """`text` (a URL, or any message that may hold several) with every URL's credentials replaced by ***."""
    return _URL.sub(lambda m: _redact_url(m["scheme"], m["rest"]), str(text))


def redact_webhook(url: str) -> str:
    """A webhook URL as it may be shown: its host and first path segment; what follows, the secret of many
    services (`/services/T000/B000/SECRET`, `?token=`), becomes ***. A user part goes as in `redact`."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return redact(url)
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if not _HOST.match(authority):  # a user part, whose password may hold / ? # : @, goes as `redact` hides it
        rest = redact(url).partition("://")[2]
        authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    return f"{scheme}://{authority}{_hide_after_first_segment(rest[len(authority):])}"


def _hide_after_first_segment(path: str) -> str:
    if not path:
        return ""
    first = re.split(r"[/?#]", path[1:], maxsplit=1)[0] if path.startswith("/") else ""
    shown = f"/{first}" if path.startswith("/") else ""
    more = path[len(shown):]
    return shown + (("/" if more.startswith("/") else "?" if more.startswith("?") else "#") + HIDDEN if more else "")


def _redact_url(scheme: str, rest: str) -> str:
    _, at, after = rest.rpartition("@")
    shown = f"{scheme}://" + _redact_query(f"{HIDDEN}@{after}" if at else rest)
    if _DATABASE_SCHEMES.match(scheme):  # what the store logs in with, as SQLAlchemy reads the URL, never shows
        for secret in _database_secrets(f"{scheme}://{rest}"):
            shown = shown.replace(secret, HIDDEN)
    return shown


def _database_secrets(url: str) -> list[str]:
    """The password and secret query values of a database URL, as SQLAlchemy's URL object holds them."""
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - a URL SQLAlchemy refuses logs in nowhere; the plain rule hid it
        return []
    values = [parsed.password or ""]
    for key, value in parsed.query.items():
        if _SECRET_KEY.search(key):
            values += list(value) if isinstance(value, tuple) else [value]
    return sorted({v for v in map(str, values) if len(v) >= 3}, key=len, reverse=True)


def _redact_query(text: str) -> str:
    return _QUERY.sub(lambda m: f"{m['lead']}{m['key']}={HIDDEN if _SECRET_KEY.search(m['key']) else m['value']}",
                      text)
