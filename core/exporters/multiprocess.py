"""The sse_* series under prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``).

With several worker processes behind one port (``uvicorn --workers N``, gunicorn), a
scrape is answered by one of them. prometheus_client's multiprocess mode makes that
right: every process writes its values into files in ``PROMETHEUS_MULTIPROC_DIR`` and the
answering process's ``MultiProcessCollector`` merges them. Custom collectors take no
part in it (its docs: "Custom collectors do not work"), and prometheus-fastapi-instrumentator
and starlette-exporter, in that mode, serve a fresh registry holding only a
``MultiProcessCollector``. So in that mode the collector writes every sse_* series into
those files, the way the mode expects, and yields nothing itself:

- this process's own series (``sse_pod_*``, admission): counters as ``Counter`` files
  (summed over the processes, dead ones included, as counters should be), gauges with
  ``multiprocess_mode="liveall"`` (one series per live process, labelled ``pid`` by
  prometheus_client: they sum to the pod's total);
- the fleet's series (the same in every process: read from the shared store) as gauges
  with ``multiprocess_mode="livemostrecent"``: once per pod, the freshest process's
  value, under their usual sample names (the fleet counters and the cleanup duration
  histogram keep their names and values; their ``# TYPE`` line says gauge, since a
  counter file would add the fleet's total once per process). A value that became
  unknown (store unreachable) is written as NaN, never left at its old number;
- ``sse_metrics_snapshot_age_seconds`` with ``livemax``: the stalest process's age
  (+Inf for a process that has not read the store yet).

Files of processes that no longer exist are removed with prometheus_client's own
``mark_process_dead`` (uvicorn's ``--workers`` supervisor has no hook to call it).
"""

from __future__ import annotations

import glob
import logging
import math
import os
from collections.abc import Iterable

from prometheus_client import Counter, Gauge
from prometheus_client.core import Metric
from prometheus_client.multiprocess import mark_process_dead

__all__ = ["multiprocess_dir", "MultiprocessWriter", "writer"]

log = logging.getLogger("sse")

AGE_METRIC = "sse_metrics_snapshot_age_seconds"


def multiprocess_dir() -> str | None:
    """prometheus_client's multiprocess directory, or None outside that mode (it reads the
    variable when it is first imported: set it before the process starts)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir") or None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    return True


class MultiprocessWriter:
    """Writes families (as collectors yield them) into prometheus_client's multiprocess
    files. One per process (:func:`writer`): counters are synced by deltas of the totals
    it is given, so two writers in one process would count twice."""

    def __init__(self) -> None:
        self._gauges: dict[tuple[str, str], Gauge] = {}
        self._counters: dict[str, Counter] = {}
        self._counted: dict[tuple[str, tuple[str, ...]], float] = {}
        self._fleet_written: set[tuple[str, tuple[tuple[str, str], ...]]] = set()

    def _gauge(self, name: str, doc: str, labelnames: Iterable[str], mode: str) -> Gauge:
        key = (name, mode)
        g = self._gauges.get(key)
        if g is None:
            g = Gauge(name, doc or name, list(labelnames), registry=None, multiprocess_mode=mode)  # type: ignore[arg-type]
            self._gauges[key] = g
        return g

    def _set(self, g: Gauge, labels: dict[str, str], value: float) -> None:
        (g.labels(**labels) if labels else g).set(value)

    def write_fleet(self, families: Iterable[Metric]) -> None:
        """The fleet's series: one ``livemostrecent`` gauge per sample name; a series written
        before and absent now (unknown) becomes NaN."""
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        for fam in families:
            for s in fam.samples:
                labels = dict(s.labels)
                g = self._gauge(s.name, fam.documentation, sorted(labels), "livemostrecent")
                self._set(g, labels, float(s.value))
                seen.add((s.name, tuple(sorted(labels.items()))))
        for name, labels_t in self._fleet_written - seen:
            labels = dict(labels_t)
            self._set(self._gauge(name, "", sorted(labels), "livemostrecent"), labels, math.nan)
        self._fleet_written |= seen

    def write_process(self, families: Iterable[Metric]) -> None:
        """This process's series: counters by delta (a total that went down started again:
        it is added whole), gauges ``liveall`` (the age gauge ``livemax``)."""
        for fam in families:
            if fam.type == "counter":
                for s in fam.samples:
                    if not s.name.endswith("_total"):
                        continue
                    labels = dict(s.labels)
                    c = self._counters.get(fam.name)
                    if c is None:
                        c = self._counters[fam.name] = Counter(fam.name, fam.documentation, sorted(labels), registry=None)
                    key = (fam.name, tuple(labels[k] for k in sorted(labels)))
                    before = self._counted.get(key, 0.0)
                    delta = s.value - before if s.value >= before else s.value
                    if delta > 0:
                        (c.labels(**labels) if labels else c).inc(delta)
                    self._counted[key] = float(s.value)
            elif fam.type == "gauge":
                mode = "livemax" if fam.name == AGE_METRIC else "liveall"
                for s in fam.samples:
                    labels = dict(s.labels)
                    value = math.inf if fam.name == AGE_METRIC and math.isnan(s.value) else float(s.value)
                    self._set(self._gauge(s.name, fam.documentation, sorted(labels), mode), labels, value)

    @staticmethod
    def forget_dead_processes(path: str | None = None) -> list[int]:
        """``mark_process_dead`` for every process whose live-gauge files remain but that
        no longer exists; returns their pids."""
        path = path or multiprocess_dir()
        if not path:
            return []
        dead: set[int] = set()
        for f in glob.glob(os.path.join(path, "gauge_live*_*.db")):
            tail = os.path.basename(f)[:-3].rsplit("_", 1)[-1]
            if tail.isdigit() and int(tail) != os.getpid() and not _pid_alive(int(tail)):
                dead.add(int(tail))
        for pid in sorted(dead):
            try:
                mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
            except OSError as exc:  # another process removed them first
                log.debug("SSE metrics: mark_process_dead(%d) failed: %s", pid, exc)
        return sorted(dead)


_WRITER: dict[int, MultiprocessWriter] = {}


def writer() -> MultiprocessWriter:
    """This process's writer (a forked child gets its own)."""
    pid = os.getpid()
    w = _WRITER.get(pid)
    if w is None:
        _WRITER.clear()
        w = _WRITER[pid] = MultiprocessWriter()
    return w


