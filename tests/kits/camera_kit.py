"""Real camera parts for the watcher tests, all on 127.0.0.1: Debian's RTSP server (rtsp-server-perl),
ffmpeg pushing clips made from dev photos at run time, a webhook receiver, cameras that never answer
or send garbage, and a `facemask watch` process whose stderr lines are waited for with deadlines."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import cv2
import numpy as np
from browser_kit import free_port, letterbox

from facemask import config

FACEMASK = [sys.executable, "-m", "facemask.cli"]
SECRET = "secret"  # the password in every camera URL of the tests: it must never show anywhere
WITHOUT_MASK_PHOTO = config.DEV_IMAGES / "maksssksksss660.jpg"  # one face, no mask, large at 640x480
WITH_MASK_PHOTO = config.DEV_IMAGES / "maksssksksss600.jpg"  # one face, with a mask


def missing_tools() -> str | None:
    """What the camera tests need and this machine lacks (setup.sh --dev installs them)."""
    absent = [tool for tool in ("ffmpeg", "rtsp-server-perl") if shutil.which(tool) is None]
    return f"{', '.join(absent)} not installed: run `bash setup.sh --dev`" if absent else None


def still_clip(path: Path, photo: Path, seconds: float = 4.0, fps: int = 10) -> Path:
    """An H.264 clip of one dev photo held still (640x480, a keyframe every half second, so a viewer
    joining a looped stream starts within half a second)."""
    frame = letterbox(cv2.imread(str(photo)))
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frame.shape[1], frame.shape[0], "yuv420p"
        stream.options = {"x264-params": f"keyint={fps // 2}:min-keyint={fps // 2}:scenecut=0:bframes=0"}
        for _ in range(round(seconds * fps)):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        container.mux(stream.encode(None))
    return path


def unknown_codec_avi(path: Path) -> Path:
    """An AVI whose video says codec 'QQQQ': FFmpeg opens the file but has no decoder for it."""
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuvj420p"
        for k in range(10):
            image = np.full((240, 320, 3), 20 * k, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode(None))
    path.write_bytes(path.read_bytes().replace(b"MJPG", b"QQQQ"))
    return path


def wait_port(port: int, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode} before listening on port {port}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not listen on port {port} within {timeout:g} s")
        time.sleep(0.2)


def free_udp_ports(count: int) -> int:
    """The first of `count` consecutive UDP ports on 127.0.0.1 that are free now (even, as RTP wants)."""
    for _ in range(200):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        start = probe.getsockname()[1] & ~1
        probe.close()
        if start + count > 65535:
            continue
        held = []
        try:
            for port in range(start, start + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(sock)
                sock.bind(("127.0.0.1", port))
            return start
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    raise AssertionError(f"found no {count} free consecutive UDP ports on 127.0.0.1")


def _stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


class RtspServer:
    """rtsp-server-perl on loopback: sources push to `source_url(path)`, viewers read `url(path)`."""

    def __init__(self, log: Path) -> None:
        self.client_port, self.source_port = free_port(), free_port()
        rtp = free_udp_ports(16)  # the RTP streams' UDP ports (two per stream pushed)
        self.log = open(log, "w")
        self.proc = subprocess.Popen(
            ["rtsp-server-perl", "--clientport", str(self.client_port), "--serverport", str(self.source_port),
             "--rtp_start_port", str(rtp), "--client_listen_address", "127.0.0.1",
             "--source_listen_address", "127.0.0.1"], stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_port(self.source_port, 60, "rtsp-server-perl (sources)", self.proc)
            wait_port(self.client_port, 60, "rtsp-server-perl (viewers)", self.proc)
        except AssertionError:
            self.close()
            raise

    def url(self, path: str, password: str = SECRET) -> str:
        return f"rtsp://viewer:{password}@127.0.0.1:{self.client_port}/{path}"

    def source_url(self, path: str) -> str:
        return f"rtsp://127.0.0.1:{self.source_port}/{path}"

    def close(self) -> None:
        _stop(self.proc)
        self.log.close()


class Pusher:
    """ffmpeg sending a clip to the RTSP server, looped for ever at its own rate (a live camera);
    `stop` ends it (the camera drops), `start` brings it back."""

    def __init__(self, server: RtspServer, path: str, clip: Path | None = None, log: Path | None = None,
                 args: list[str] | None = None) -> None:
        self.server, self.path = server, path
        self.args = args or ["-re", "-stream_loop", "-1", "-i", str(clip), "-c", "copy"]
        self.log_path = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> Pusher:
        log = open(self.log_path, "a") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", *self.args,
                                      "-f", "rtsp", self.server.source_url(self.path)],
                                     stdout=log, stderr=subprocess.STDOUT)
        return self

    def stop(self) -> None:
        """The camera drops: ffmpeg is stopped (SIGTERM, so it tells the server, which keeps the path of
        a source killed outright and refuses it a new one); the server tells viewers nothing: they
        just get no more frames."""
        if self.proc is not None and self.proc.poll() is None:
            _stop(self.proc)


class WatchProcess:
    """`facemask watch ...` in a process of its own; its stderr lines are kept for `wait_for`."""

    def __init__(self, *args: str, env: dict | None = None) -> None:
        self.proc = subprocess.Popen([*FACEMASK, "watch", *args], cwd=config.ROOT, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env={**os.environ, **(env or {})})
        self.lines: list[str] = []
        self.stdout = ""
        self._cond = threading.Condition()
        self._readers = [threading.Thread(target=self._read_err, daemon=True),
                         threading.Thread(target=self._read_out, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_err(self) -> None:
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _read_out(self) -> None:
        self.stdout = self.proc.stdout.read()

    def wait_for(self, pattern: str, timeout: float, what: str, after: int = 0) -> int:
        """The index of the first stderr line from `after` on that matches `pattern`, waiting up to `timeout` s."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for k in range(after, len(self.lines)):
                    if regex.search(self.lines[k]):
                        return k
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._readers[0].is_alive()):
                    tail = "\n".join(self.lines[-25:])
                    state = "still running" if self.proc.poll() is None else f"exited {self.proc.returncode}"
                    raise AssertionError(f"waited {timeout:g} s for {what} (/{pattern}/); watch {state}; "
                                         f"its last stderr lines:\n{tail}")
                self._cond.wait(min(left, 1.0))

    def save(self, name: str) -> Path:
        """Its stderr so far, in test-artifacts/ (what a person watching the terminal saw)."""
        path = config.ROOT / "test-artifacts" / f"{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._cond:
            path.write_text("\n".join(self.lines) + "\n")
        return path

    def matching(self, pattern: str, after: int = 0, before: int | None = None) -> list[str]:
        regex = re.compile(pattern)
        with self._cond:
            return [line for line in self.lines[after:before] if regex.search(line)]

    def stop(self, timeout: float = 60.0) -> tuple[int, str, str]:
        """SIGTERM (the watcher ends its events and writes what waits), then (exit code, stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.finish(timeout)

    def finish(self, timeout: float) -> tuple[int, str, str]:
        """Wait for the process to end by itself (its --duration or its videos' end)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"facemask watch did not end within {timeout:g} s; last lines:\n"
                                 + "\n".join(self.lines[-25:])) from None
        for reader in self._readers:
            reader.join(10)
        return self.proc.returncode, self.stdout, "\n".join(self.lines)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*FACEMASK, *args], cwd=config.ROOT, capture_output=True, text=True, timeout=timeout)


class Webhook:
    """A local HTTP server that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.raw: list[bytes] = []
        self._cond = threading.Condition()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with hook._cond:
                    hook.raw.append(data)
                    hook.bodies.append(json.loads(data))
                    hook._cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts?token={SECRET}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float, what: str) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.bodies) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"waited {timeout:g} s for {what}; got {len(self.bodies)} POSTs")
                self._cond.wait(left)
            return list(self.bodies)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeCamera:
    """A TCP server on loopback that plays a broken camera: 'silent' accepts and never answers,
    'garbage' answers HTTP 200 and then random bytes for ever."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://viewer:{SECRET}@127.0.0.1:{self.port}/stream"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            if self.behaviour == "garbage":
                threading.Thread(target=self._garbage, args=(conn,), daemon=True).start()

    def _garbage(self, conn: socket.socket) -> None:
        rng = np.random.default_rng(self.connections)
        try:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: video/mp4\r\n\r\n")
            for _ in range(2000):  # bounded: 2000 x 4 KiB, paced
                if self._stop.is_set():
                    break
                conn.sendall(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
                time.sleep(0.01)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        for conn in self._open:
            try:
                conn.close()
            except OSError:
                pass


class MjpegCamera:
    """An HTTP camera on loopback sending `photo` as MJPEG (multipart/x-mixed-replace), 10 frames a
    second for at most `seconds`, to each viewer."""

    def __init__(self, photo: Path, seconds: float = 120.0) -> None:
        ok, data = cv2.imencode(".jpg", letterbox(cv2.imread(str(photo))))
        jpeg = data.tobytes()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    for _ in range(int(seconds * 10)):
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                         + f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
                        time.sleep(0.1)
                except OSError:
                    pass

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self) -> str:
        return f"http://viewer:{SECRET}@127.0.0.1:{self.server.server_address[1]}/video.mjpg"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class HlsCamera:
    """An HLS stream on loopback: ffmpeg cuts `clip` into 1 s segments and a playlist, served over HTTP."""

    def __init__(self, clip: Path, folder: Path) -> None:
        from functools import partial
        from http.server import SimpleHTTPRequestHandler

        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(clip), "-c", "copy",
                        "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod", str(folder / "live.m3u8")],
                       check=True, timeout=120)

        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(folder)))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/live.m3u8?token={SECRET}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
