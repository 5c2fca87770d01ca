"""The collector's rules that need no server: a second registration is an error that says
so; under multiprocess mode an unknown fleet value is written as NaN (never left at its
old number) and a dead process's gauges are forgotten."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from core.exporters.prometheus import CollectorAlreadyRegistered, register_collector

ROOT = Path(__file__).resolve().parents[2]


def test_registering_twice_is_an_error_with_a_message():
    registry = CollectorRegistry()
    first = register_collector(object(), registry=registry)
    with pytest.raises(CollectorAlreadyRegistered, match="already registered on this registry"):
        register_collector(object(), registry=registry)
    registry.unregister(first)
    register_collector(object(), registry=registry)  # after unregistering, again fine


SCRIPT = r'''
import math, os, sys
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from core.exporters.multiprocess import writer, MultiprocessWriter
from core.exporters.prometheus import SnapshotCollector
from sse_tui.samples import sample_stats

def scrape():
    r = CollectorRegistry()
    MultiProcessCollector(r)
    return {s.name: s.value for f in text_string_to_metric_families(generate_latest(r).decode()) for s in f.samples
            if not s.labels or "le" not in s.labels}

stats = sample_stats()
writer().write_fleet(SnapshotCollector(stats).collect())
before = scrape()["sse_active_connections"]
cs = stats.connection_stats.model_copy(update={"active_connections": None})
writer().write_fleet(SnapshotCollector(stats.model_copy(update={"connection_stats": cs})).collect())
after = scrape()["sse_active_connections"]
print(before, after)
# a dead process's live gauge file is forgotten; a live one's kept
d = os.environ["PROMETHEUS_MULTIPROC_DIR"]
open(os.path.join(d, "gauge_liveall_999999.db"), "wb").close()
print(MultiprocessWriter.forget_dead_processes(), os.getpid(), " ".join(sorted(os.listdir(d))))
'''


def test_unknown_fleet_values_are_nan_and_dead_processes_are_forgotten(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSE_", "PROMETHEUS_"))}
    env.update(PROMETHEUS_MULTIPROC_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    first, second = res.stdout.splitlines()
    before, after = first.split()
    assert float(before) > 0 and after == "nan", first  # unknown: NaN, not the old number
    forgotten, pid, files = second.split(" ", 2)
    assert forgotten == "[999999]" and "gauge_liveall_999999.db" not in files, second
    assert f"gauge_livemostrecent_{pid}.db" in files.split(), second  # the live process's files stay
