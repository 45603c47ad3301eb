"""Camera and database URLs carry passwords: every message, log line, status, event and page shows
them through `redact`, which hides the user:password part and secret query parameters."""

from __future__ import annotations

import re

# scheme://user:password@host or scheme://user@host: the whole user part goes (up to the last @ before
# the path, so a password with an unescaped @ goes too)
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s?#]*)@")
# ?password=... &token=... (some cameras take credentials as query parameters)
_SECRET_PARAMS = re.compile(r"(?P<key>[?&;](?:user(?:name)?|pass(?:word|wd)?|pwd|token|secret|key|auth|sig)=)"
                            r"(?P<value>[^&#\s]*)", re.IGNORECASE)
HIDDEN = "***"


def redact(text: object) -> str:
    """`text` (a URL, or any message that may hold one) with its credentials replaced by ***."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{HIDDEN}@", str(text))
    return _SECRET_PARAMS.sub(lambda m: f"{m['key']}{HIDDEN}", text)
