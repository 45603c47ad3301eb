"""A real Ray cluster on loopback for the tests: a head and one more node, each `ray start --block` in its
own process group under a temp dir, so stopping it ends exactly its processes and nobody else's.

(`ray stop` is not used: it stops every Ray process of the machine, other people's clusters included.)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
START_DEADLINE_S = 240  # a loaded 2-core machine: Ray's start takes 20-60 s there
STOP_DEADLINE_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def quiet_env(token_path: Path) -> dict:
    """The environment of every process of the test cluster and of its drivers: usage stats off, and
    Ray's token authentication on with this cluster's own token (never the user's ~/.ray/auth_token)."""
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_DATA_LOG_LEVEL": "ERROR",
            "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_path)}


@dataclass
class RayCluster:
    address: str
    temp_dir: Path
    log_dir: Path
    env: dict
    nodes: list[subprocess.Popen] = field(default_factory=list)

    def processes(self) -> dict[int, str]:
        """pid -> command line of every live process under this cluster's `ray start` processes."""
        children: dict[int, list[int]] = {}
        names: dict[int, str] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                continue  # a zombie: already dead
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
            names[int(entry.name)] = cmdline
        found: dict[int, str] = {}
        todo = [node.pid for node in self.nodes if node.poll() is None]
        while todo:
            pid = todo.pop()
            if pid in names and pid not in found:
                found[pid] = names[pid]
                todo += children.get(pid, [])
        return found

    def actor_pids(self, class_name: str) -> list[int]:
        """Worker processes of this cluster running an actor whose class name contains `class_name`."""
        return sorted(pid for pid, cmd in self.processes().items() if cmd.startswith("ray::") and class_name in cmd)

    def wait_for_actors(self, class_name: str, count: int, deadline_s: float, why: str) -> list[int]:
        deadline = time.monotonic() + deadline_s
        while True:
            pids = self.actor_pids(class_name)
            if len(pids) >= count:
                return pids
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {deadline_s:.0f} s for {count} {class_name} actor process(es) "
                                     f"({why}); found {pids}; logs in {self.log_dir}")
            time.sleep(0.2)


def _run_node(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen([RAY, "start", "--block", *args], stdout=out, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)


def _node_ports() -> list[str]:
    """Every port a node listens on, chosen free, so two nodes on one host never collide."""
    return ["--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
            "--metrics-export-port", str(free_port()), "--dashboard-agent-listen-port", str(free_port()),
            "--dashboard-agent-grpc-port", str(free_port()), "--runtime-env-agent-port", str(free_port()),
            "--min-worker-port", "0", "--max-worker-port", "0"]


def _wait_for_cpus(address: str, cpus: int, nodes: list[subprocess.Popen], log_dir: Path, env: dict) -> None:
    """Block until the cluster reports `cpus` CPUs from live nodes (asked through `ray status`)."""
    deadline = time.monotonic() + START_DEADLINE_S
    last = ""
    while True:
        for node in nodes:
            if node.poll() is not None:
                raise AssertionError(f"a `ray start` exited with {node.returncode} while the cluster started; "
                                     f"logs in {log_dir}")
        status = subprocess.run([RAY, "status", "--address", address], capture_output=True, text=True,
                                env=env, timeout=120)
        last = status.stdout + status.stderr
        if status.returncode == 0 and f"/{cpus}.0 CPU" in last:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the Ray cluster at {address} did not report {cpus} CPUs within "
                                 f"{START_DEADLINE_S} s; last `ray status`:\n{last[-2000:]}\nlogs in {log_dir}")
        time.sleep(1)


def start_cluster(base: Path) -> RayCluster:
    """A head (1 CPU) and one more node (1 CPU) on 127.0.0.1; returns once both are up."""
    # Ray's socket paths must stay under ~107 characters: a short temp dir
    temp_dir = Path(os.path.realpath(base)) / "r"
    log_dir = Path(base) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus", "1", "--object-store-memory", str(200 * 1024 * 1024), "--disable-usage-stats"]
    token = Path(base) / "auth_token"
    token.write_text(uuid.uuid4().hex)
    token.chmod(0o600)
    env = quiet_env(token)
    cluster = RayCluster(address=address, temp_dir=temp_dir, log_dir=log_dir, env=env)
    cluster.nodes.append(_run_node(["--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                                    "--temp-dir", str(temp_dir), "--include-dashboard=false",
                                    "--ray-client-server-port", str(free_port()), *common, *_node_ports()],
                                   log_dir / "head.log", env))
    try:
        _wait_for_cpus(address, 1, cluster.nodes, log_dir, env)
        cluster.nodes.append(_run_node(["--address", address, "--node-ip-address", "127.0.0.1", *common,
                                        *_node_ports()], log_dir / "node2.log", env))
        _wait_for_cpus(address, 2, cluster.nodes, log_dir, env)
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def stop_cluster(cluster: RayCluster) -> None:
    """SIGTERM to each node's process group (`ray start --block` then stops its own processes), SIGKILL
    what is left at the deadline; checks that no process of this cluster survives."""
    pids = cluster.processes()
    for node in reversed(cluster.nodes):
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_DEADLINE_S
    for node in cluster.nodes:
        try:
            node.wait(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait(timeout=30)
    # what the nodes started may sit in other process groups: end those of our pids still alive
    while True:
        alive = [pid for pid in pids if _alive(pid, pids[pid])]
        if not alive:
            return
        if time.monotonic() > deadline:
            for pid in alive:
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 30
            pids = {pid: pids[pid] for pid in alive}
            continue
        time.sleep(0.2)


def _alive(pid: int, cmdline: str) -> bool:
    """`pid` still runs the same program (a recycled pid with another command line is not ours)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        now = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and now == cmdline
