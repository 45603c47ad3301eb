"""Keeps the libraries' start-up chatter (TensorFlow, oneDNN, absl, LiteRT's XNNPACK line) off the
terminal, so a command prints only what it has to say; anything else they write still gets through."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator

# lines that native code prints on every start and that say nothing a user can act on
NOISE = re.compile(
    rb"^(INFO: Created TensorFlow Lite XNNPACK delegate for CPU\."
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] .*"  # absl INFO / WARNING lines (E and F still show)
    rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\."
    rb")\r?$")
# a keras export prints its endpoints when TensorFlow converts a model to TFLite
EXPORT_CHATTER = "Saved artifact at '"
# fd 2 is the process's: two threads holding it at once would each restore the other's copy
_FD2_LOCK = threading.RLock()


def quiet_environment() -> None:
    """Environment TensorFlow reads once, at import: C++ logs from ERROR up (a user's own setting wins)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def drop_noise(data: bytes) -> bytes:
    """`data` without the lines that match NOISE."""
    return b"".join(line for line in data.splitlines(keepends=True) if not NOISE.match(line.rstrip(b"\n")))


@contextlib.contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Hold what anything, C++ included, writes to file descriptor 2 during the block; afterwards pass
    on every line that is not known chatter (NOISE), so real errors and warnings still show.
    One thread at a time: fd 2 belongs to the whole process."""
    with _FD2_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, AttributeError, ValueError):  # no usable fd 2: nothing to filter
            yield
            return
        with tempfile.TemporaryFile() as held:
            os.dup2(held.fileno(), 2)
            try:
                yield
            finally:
                with contextlib.suppress(OSError, AttributeError, ValueError):
                    sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                held.seek(0)
                kept = drop_noise(held.read())
                if kept:
                    os.write(2, kept)


def quiet_python_logs() -> None:
    """TensorFlow's and absl's Python loggers from ERROR up; TF/Keras deprecation warnings off."""
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category, module=r"(tensorflow|keras|tf_keras|absl)(\.|$)")


def import_keras():
    """`import keras` (and TensorFlow under it) without its start-up lines on stderr."""
    quiet_environment()
    with native_stderr_filtered():
        import keras
    quiet_python_logs()
    return keras


class DropWrites:
    """A stand-in for sys.stdout that drops each write for which `drop(text)` is true (a library's
    print of one message is one write) and passes every other write on."""

    def __init__(self, stream, drop: Callable[[str], bool]) -> None:
        self._stream, self._drop = stream, drop

    def write(self, text: str) -> int:
        return len(text) if self._drop(text) else self._stream.write(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@contextlib.contextmanager
def export_chatter_dropped() -> Iterator[None]:
    """sys.stdout without the endpoint listing a keras export prints while a model becomes TFLite."""
    original = sys.stdout
    sys.stdout = DropWrites(original, lambda text: text.startswith(EXPORT_CHATTER))
    try:
        yield
    finally:
        sys.stdout = original
