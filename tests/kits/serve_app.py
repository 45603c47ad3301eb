"""`streamlit ...` for the browser tests, with the server's Python threads made visible from outside.

Python 3.11 leaves OS thread names alone, so /proc/<pid>/task/*/comm says "python" for every thread.
Here each new Python thread gives its name to its OS thread (Linux keeps 15 characters:
streamlit-webrtc's "async_media_processor_N" reads "async_media_pro") and, when FACEMASK_THREAD_LOG
names a file, appends "<native id> <name>" to it. Native threads that OpenCV, LiteRT or libav start
from a Python thread inherit its OS name, so the log is what tells a Python thread apart.
When FACEMASK_WEBRTC_LOG names a file, streamlit-webrtc's debug log and aiortc's / aioice's info log
(when and why a stream's worker stops, ICE states) go there with times and thread names.
The server also asks Linux to end it when the process that started it (pytest) dies, so a test
run that is killed leaves no server behind to hold its port and CPU.
Usage: python tests/kits/serve_app.py run app.py ...
"""

import ctypes
import logging
import os
import signal
import sys
import threading

from streamlit.web.cli import main

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
THREAD_LOG = os.environ.get("FACEMASK_THREAD_LOG")
WEBRTC_LOG = os.environ.get("FACEMASK_WEBRTC_LOG")
_libc = ctypes.CDLL(None, use_errno=True)
_log_lock = threading.Lock()


def _announce_thread(*_) -> None:
    """Profile hook each new thread calls once, before its target runs; it removes itself."""
    sys.setprofile(None)
    thread = threading.current_thread()
    _libc.prctl(PR_SET_NAME, thread.name.encode()[:15], 0, 0, 0)
    if THREAD_LOG:
        with _log_lock, open(THREAD_LOG, "a", encoding="utf-8") as log:
            log.write(f"{thread.native_id} {thread.name}\n")


def _log_webrtc(path: str) -> None:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s"))
    for name, level in (("streamlit_webrtc", logging.DEBUG), ("aiortc", logging.INFO), ("aioice", logging.INFO)):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.addHandler(handler)


if __name__ == "__main__":
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() == 1:  # the parent died before the request above
        sys.exit("the test run that started this server has ended")
    threading.setprofile(_announce_thread)
    if WEBRTC_LOG:
        _log_webrtc(WEBRTC_LOG)
    sys.exit(main(prog_name="streamlit"))
