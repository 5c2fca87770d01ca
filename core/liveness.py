"""PURE: is a worker alive, and do the registry's numbers stand for now?

Two questions every surface asks (the API, the probes, ``/metrics``, the dashboard, a
replay), answered once here from values alone (times are the fleet's clock):

* :func:`worker_state`: ``alive`` / ``late`` / ``dead`` / ``unknown`` from a heartbeat.
* :func:`registry_state`: ``settled`` / ``settling`` / ``rebuilding`` / ``empty`` from the
  registry's epoch (its generation: a new one after the store lost its data), the moment the
  fleet last had to resync (the store came back from an outage), and which live workers
  have confirmed their connections since.

A worker that cannot write (the store refuses writes) or has not had the chance to flush
since the store came back is ``unknown``, never ``dead``: its missing heartbeat says
nothing about its process.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from .models import RegistryState, WorkerHeartbeat, WorkerState


def worker_state(hb: WorkerHeartbeat, now: float, *, late_after: float, ttl: float, skew: float,
                 writable: bool = True, settling_since: float | None = None) -> tuple[WorkerState, str | None]:
    """(state, why) for one worker's heartbeat at ``now``."""
    age = now - hb.heartbeat_at
    if hb.dead_reason:
        return "dead", hb.dead_reason
    if age < -skew:
        return "dead", f"heartbeat {-age:.0f}s in the future (bad data)"
    if not writable:
        return "unknown", "the store refuses writes: heartbeats cannot be written"
    if settling_since is not None and hb.heartbeat_at < settling_since:
        return "unknown", "not heard from since the store came back"
    if age > ttl:
        return "dead", f"no heartbeat for {age:.0f}s (> {ttl:g}s)"
    if age > late_after:
        return "late", f"heartbeat {age:.1f}s old (> {late_after:g}s)"
    return "alive", None


def counts_as_active(state: WorkerState) -> bool:
    """Whether a worker's connections count as active (not yet known to be gone)."""
    return state != "dead"


@dataclass(frozen=True, slots=True)
class Epoch:
    """The registry's generation as the store holds it (``{ns}:epoch``)."""

    id: str
    created: float
    rebuild_since: float | None = None  # the store lost the fleet's data: re-registration since then
    settle_since: float | None = None  # the store came back after an outage: resync since then
    last_loss_at: float | None = None


@dataclass(frozen=True, slots=True)
class Registry:
    state: RegistryState
    reason: str | None
    since: float | None
    pending: tuple[str, ...] = ()


def registry_state(epoch: Epoch | None, heartbeats: Sequence[WorkerHeartbeat], now: float, *, ttl: float,
                   has_data: bool, known_epoch: str | None = None) -> Registry:
    """Whether the registry's numbers stand for now.

    ``known_epoch``: the epoch this reader saw before (a worker's own, an observer's last):
    a different or missing one means the store lost the fleet's data since. ``has_data``:
    anything is registered or any worker is listed (an empty namespace with no epoch is
    ``empty``; with a known epoch it is a loss)."""
    if epoch is None:
        if known_epoch is not None:
            return Registry("rebuilding", "the state store lost the fleet's data; no worker has re-registered yet", now)
        if has_data:  # the epoch key alone was lost (or a fleet from before epochs): the workers recreate it
            return Registry("rebuilding", "the registry's epoch is missing; workers are re-registering", now)
        return Registry("empty", "nothing under this namespace: no worker has registered here (or the store lost "
                        "everything and no worker has come back yet)", None)
    if known_epoch is not None and epoch.id != known_epoch and epoch.rebuild_since is None:
        return Registry("rebuilding", "the state store lost the fleet's data; workers are re-registering", epoch.created)
    since = epoch.rebuild_since if epoch.rebuild_since is not None else epoch.settle_since
    if since is None:
        return Registry("settled", None, None)
    live = [hb for hb in heartbeats if not hb.dead_reason and now - hb.heartbeat_at <= ttl]
    pending = tuple(sorted(hb.worker_id for hb in live if not _confirmed(hb, epoch, since)))
    if epoch.rebuild_since is not None:
        done = len(live) - len(pending)
        return Registry("rebuilding", f"the state store lost the fleet's data; {done} of {len(live)} live worker(s) "
                        "re-registered so far", since, pending)
    return Registry("settling", f"the state store is back; {len(live) - len(pending)} of {len(live)} live worker(s) "
                    "resynced so far", since, pending)


def _confirmed(hb: WorkerHeartbeat, epoch: Epoch, since: float) -> bool:
    return hb.epoch == epoch.id and hb.synced_at is not None and hb.synced_at >= since


def settled_now(epoch: Epoch, heartbeats: Sequence[WorkerHeartbeat], now: float, *, ttl: float,
                min_window: float) -> bool:
    """True when a rebuild / settle that began at ``epoch``'s mark is over: every live worker
    confirmed its connections since, and at least ``min_window`` passed (a worker that has not
    flushed yet is invisible: the window gives every live one a flush)."""
    since = epoch.rebuild_since if epoch.rebuild_since is not None else epoch.settle_since
    if since is None:
        return True
    if now - since < min_window:
        return False
    return not registry_state(epoch, heartbeats, now, ttl=ttl, has_data=True).pending


def host_identity() -> str:
    """This process's host, precise enough that pids compare: hostname, boot id and pid
    namespace (two containers with one hostname and separate pid namespaces differ)."""
    parts = [socket.gethostname()]
    for path in ("/proc/sys/kernel/random/boot_id",):
        try:
            with open(path) as f:
                parts.append(f.read().strip())
        except OSError:
            parts.append("?")
    try:
        parts.append(os.readlink("/proc/self/ns/pid"))
    except OSError:
        parts.append("?")
    return "|".join(parts)


def process_gone(pid: int, started_before: float | None = None, *, margin: float = 2.0) -> bool:
    """True when the process ``pid`` of this host is gone: no such pid, or (``started_before``:
    unix seconds by which the process we mean had started) the pid now belongs to a process
    that started later (the pid was reused). A pid of another user's exists."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it exists, under another user
        return False
    if started_before is not None:
        started = process_start_time(pid)
        if started is not None and started > started_before + margin:
            return True
    return False


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (unix seconds; Linux ``/proc``), None when unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        with open("/proc/stat") as f:
            btime = next(float(line.split()[1]) for line in f if line.startswith("btime "))
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    try:
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22 (starttime), after the command name
    except (IndexError, ValueError):
        return None
    return btime + ticks / os.sysconf("SC_CLK_TCK")
