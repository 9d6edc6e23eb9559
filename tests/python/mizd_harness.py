"""The real mizd for the Python client's tests: started on ipc:// endpoints in a temporary
directory with a routing table the test writes, stopped (and, if need be, killed) at the end.

$MIZD names the binary (ctest sets it to the build's mizd)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Callable, List, Optional, TypeVar

import zmq

import miz

T = TypeVar("T")

START_MS = 10000  # a mizd that does not answer a ping by then is broken
STOP_S = 10.0

# Deadlines far beyond any test (none fires); heartbeats short so that liveness is quick,
# but long enough that a worker blocked in its own client's call (a commit) is not dropped.
TABLE = """\
broker:
  name: py-test
  heartbeat: 500ms
defaults:
  ack_within: 1m
  answer_within: 5m
  max_attempts: 10
agencies:
  water:      {name_fa: "آب و فاضلاب", name_en: "Water and wastewater"}
  city:       {name_fa: "خدمات شهری", name_en: "Urban services"}
  inspection: {name_fa: "بازرسی", name_en: "Inspection office"}
routes:
  - match: utility.water.*
    to: [water]
  - match: city.snow.street
    to: [city]
    observe: [inspection]
"""


def mizd_path() -> str:
    path = os.environ.get("MIZD")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError("set MIZD to the mizd binary (ctest does), not %r" % path)
    return path


class Mizd:
    """One mizd with its store in dir/data; start() again after stop() restarts it on the
    same store and endpoints."""

    def __init__(self, dir: str, table: str = TABLE, name: str = "mizd") -> None:
        self.dir = dir
        self.name = name
        self.table = os.path.join(dir, name + ".yaml")
        with open(self.table, "w", encoding="utf-8") as f:
            f.write(table)
        self.data = os.path.join(dir, name + "-data")
        self.clients = "ipc://%s/%s-clients" % (dir, name)
        self.workers = "ipc://%s/%s-workers" % (dir, name)
        self.events = "ipc://%s/%s-events" % (dir, name)
        self.log = os.path.join(dir, name + ".log")
        self.proc: Optional[subprocess.Popen] = None
        self.curve: Optional[miz.Curve] = None  # a gateway's keys, to ping a mizd with CURVE

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [mizd_path(), "-c", self.table, "--data-dir", self.data, "--clients",
                 self.clients, "--workers", self.workers, "--events", self.events,
                 "--log-level", "debug"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=dict(os.environ, RUNTIME_DIRECTORY=self.dir))
        self.wait_ready()

    def wait_ready(self) -> None:
        """Until mizd answers a ping on its clients socket (it binds after taking up its store)."""
        deadline = time.monotonic() + START_MS / 1000
        with miz.Client(self.clients, curve=self.curve, timeout_ms=100) as c:
            while time.monotonic() < deadline:
                try:
                    c.ping()
                    return
                except TimeoutError:
                    if self.proc is None or self.proc.poll() is not None:
                        break
        raise RuntimeError("mizd did not answer a ping; its log:\n" + self.log_text())

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signals mizd and waits for it to exit; returns its exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(STOP_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_text(self) -> str:
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()[-8000:]
        except OSError:
            return "(no log)"


def until(what: str, step: Callable[[int], Optional[T]], timeout_ms: int = 10000) -> T:
    """Calls step(ms left) until it returns something other than None, within timeout_ms;
    AssertionError naming what did not happen otherwise."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        left = int((deadline - time.monotonic()) * 1000)
        if left <= 0:
            raise AssertionError("timed out waiting for " + what)
        got = step(left)
        if got is not None:
            return got


def write_cert(path: str, public: bytes, secret: Optional[bytes], **metadata: str) -> None:
    """A certificate file as lib/cert.c (miz keygen) writes it."""
    kind = "**Secret**" if secret else "Public"
    lines = ["#   ZeroMQ CURVE %s Certificate, written by miz keygen" % kind, "", "metadata"]
    lines += ['    %s = "%s"' % (k, v) for k, v in metadata.items()]
    lines += ["curve", '    public-key = "%s"' % public.decode()]
    if secret:
        lines.append('    secret-key = "%s"' % secret.decode())
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600 if secret else 0o644)


def keygen(dir: str, name: str, **metadata: str) -> List[str]:
    """NAME.key and NAME.key_secret in dir, as `miz keygen` makes them; their paths."""
    public, secret = zmq.curve_keypair()
    paths = [os.path.join(dir, name + ".key"), os.path.join(dir, name + ".key_secret")]
    write_cert(paths[0], public, None, name=name, **metadata)
    write_cert(paths[1], public, secret, name=name, **metadata)
    return paths
