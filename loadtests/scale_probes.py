"""What `inventory scale` records beside each step's load run, to say why a curve bends.

- `TreeCpu`: the CPU time of the emulator and every process under it (MiniStack runs each
  Lambda worker as its child), read from /proc, as a share of one core over the step; with
  the whole machine's busy share and load average (the machine is shared: others' work
  shows there) and the most Lambda workers seen at once.
- `XRayCollector`: the X-Ray segment documents the functions' powertools Tracer sends over
  UDP when the emulator was started with `AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:<port>` (its
  Lambda workers inherit it); `call_split` turns them into each function's time per
  invocation by call (S3 GetObject, TransactWriteItems, the summary's Query, ...).

Linux only (/proc); without it the CPU figures are left out.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROC = Path("/proc")
HANDLER = "## lambda_handler"


# --- CPU --------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and its reaped children) from /proc/PID/stat."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    ticks = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return int(fields[1]), (utime + stime + cutime + cstime) / ticks


def tree(root: int, parents: Mapping[int, int]) -> set[int]:
    """`root` and every process whose chain of parents leads to it."""
    children: dict[int, list[int]] = defaultdict(list)
    for pid, parent in parents.items():
        children[parent].append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(children.get(pid, ()))
    return found


def _tree_cpu(root: int) -> tuple[float, int]:
    """CPU seconds used so far by `root`'s tree, and how many processes it holds."""
    stats = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found is not None:
                stats[int(entry.name)] = found
    members = tree(root, {pid: parent for pid, (parent, _) in stats.items()})
    return sum(stats[pid][1] for pid in members if pid in stats), len(members)


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    values = [int(v) for v in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


@dataclass
class TreeCpu:
    """CPU of the emulator's process tree and of the machine between `start` and `stop`."""

    root: int | None
    interval_s: float = 1.0
    _started: float = 0.0
    _cpu0: float = 0.0
    _machine0: tuple[float, float] = (0.0, 0.0)
    _most: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def available(self) -> bool:
        return self.root is not None and (PROC / str(self.root)).exists()

    def start(self) -> None:
        if not self.available:
            return
        assert self.root is not None
        self._started = time.monotonic()
        self._cpu0, self._most = _tree_cpu(self.root)
        self._machine0 = _machine_busy()
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            assert self.root is not None
            self._most = max(self._most, _tree_cpu(self.root)[1])

    def stop(self) -> dict[str, Any] | None:
        """The step's figures: percent of one core, of the machine, load, most processes."""
        if not self.available or self._thread is None:
            return None
        assert self.root is not None
        self._stop.set()
        self._thread.join(timeout=5)
        wall = max(time.monotonic() - self._started, 1e-9)
        cpu, processes = _tree_cpu(self.root)
        busy, total = _machine_busy()
        busy0, total0 = self._machine0
        return {
            "emulator_cpu_s": round(cpu - self._cpu0, 2),
            "emulator_pct_of_one_core": round(100 * (cpu - self._cpu0) / wall, 1),
            "machine_busy_pct": round(100 * (busy - busy0) / max(total - total0, 1), 1),
            "cores": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "emulator_processes_most": max(self._most, processes),
            "wall_s": round(wall, 1),
        }


# --- X-Ray ------------------------------------------------------------------------------------


def xray_port(environ: Mapping[str, str] = os.environ) -> int | None:
    """The UDP port of AWS_XRAY_DAEMON_ADDRESS (`127.0.0.1:2000`), if it is set."""
    address = environ.get("AWS_XRAY_DAEMON_ADDRESS", "")
    _, _, port = address.rpartition(":")
    return int(port) if port.isdigit() else None


class XRayCollector:
    """Receives X-Ray segment documents (`{"format":"json","version":1}\\n{...}`) on UDP."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self._socket.bind((host, port))
        self._socket.settimeout(0.5)
        self._docs: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._socket.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            _, _, body = data.decode("utf-8", "replace").partition("\n")
            try:
                doc = json.loads(body)
            except ValueError:
                continue
            with self._lock:
                self._docs.append(doc)

    def take(self) -> list[dict[str, Any]]:
        """Every document received since the last call."""
        with self._lock:
            docs, self._docs = self._docs, []
        return docs

    def close(self) -> None:
        self._stop.set()
        self._socket.close()
        self._thread.join(timeout=2)


def _union_ms(intervals: Iterable[tuple[float, float]]) -> float:
    """The time covered by possibly overlapping intervals (seconds in, ms out)."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total * 1000


def call_split(docs: Iterable[Mapping[str, Any]], since: float = 0.0) -> dict[str, Any]:
    """Each function's mean time per invocation by call, from X-Ray subsegment documents.

    A function is told by its handler subsegment's `Service` annotation, its invocation by
    the trace id. A call is `service.Operation` (`dynamodb.TransactWriteItems`), with the
    traced method it ran in when there is one (`dynamodb.PutItem (DynamoReceipts.put)`).
    Calls made at once (the loader's concurrent transactions) count once per invocation, by
    the time they cover (`ms_per_invocation`); `other_ms` is the handler's time outside every
    call (parsing, building items, logging). Invocations that started before `since` (epoch
    seconds) are left out.
    """
    docs = list(docs)
    by_id = {d["id"]: d for d in docs if "id" in d}
    handlers = {
        d["trace_id"]: d
        for d in docs
        if d.get("name") == HANDLER and d.get("start_time", 0) >= since and "end_time" in d
    }
    spans: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for d in docs:
        trace = str(d.get("trace_id", ""))
        if trace not in handlers or d.get("namespace") != "aws" or "end_time" not in d:
            continue
        label = f"{d.get('name')}.{(d.get('aws') or {}).get('operation', '?')}"
        parent = by_id.get(d.get("parent_id", ""), {}).get("name", "")
        if parent.startswith("## ") and parent != HANDLER:
            label += f" ({'.'.join(parent[3:].split('.')[-2:])})"
        spans[trace][label].append((d["start_time"], d["end_time"]))
    result: dict[str, Any] = {}
    services: dict[str, list[str]] = defaultdict(list)
    for trace, handler in handlers.items():
        services[(handler.get("annotations") or {}).get("Service", "?")].append(trace)
    for service, traces in sorted(services.items()):
        n = len(traces)
        calls: dict[str, dict[str, float]] = defaultdict(lambda: {"calls": 0.0, "ms": 0.0})
        covered = 0.0
        handler_ms = 0.0
        for trace in traces:
            handler = handlers[trace]
            handler_ms += (handler["end_time"] - handler["start_time"]) * 1000
            every: list[tuple[float, float]] = []
            for label, intervals in spans[trace].items():
                calls[label]["calls"] += len(intervals)
                calls[label]["ms"] += _union_ms(intervals)
                every += intervals
            covered += _union_ms(every)
        result[service] = {
            "invocations": n,
            "handler_ms": round(handler_ms / n, 2),
            "other_ms": round((handler_ms - covered) / n, 2),
            "calls": {
                label: {
                    "calls_per_invocation": round(c["calls"] / n, 2),
                    "ms_per_invocation": round(c["ms"] / n, 2),
                }
                for label, c in sorted(calls.items(), key=lambda kv: -kv[1]["ms"])
            },
        }
    return result
