"""CPU placement (config ``cpus``, Linux): the event loop's thread alone on its CPUs, the rest of the gateway off them.

Every tick passes through the one event-loop thread, so on a machine where the gateway shares its CPUs with other
busy processes its throughput is what that thread gets of its CPU. On the 2-CPU machine of ``scripts/bench_kafka.py``
the Kafka writer process, the broker and nats-server take turns on the event loop's CPU when the scheduler finds the
other one busy: with Kafka on, the event-loop thread was preempted 150-590 times per 532,903-tick run (nats-server
alone took 21 ms of its time per run), against 5-90 times with NATS only. With ``cpus.event_loop`` the gateway
puts its event-loop thread on those CPUs and everything else it runs on the others: its helper threads (the
spool's fsync, anything ``asyncio.to_thread`` runs) and the Kafka writer process. Other processes (nats-server,
a broker on the same host) are the operator's to place, with ``taskset`` or a cgroup cpuset.

Threads a library starts later from the event-loop thread itself (the libuv thread pool, on a first DNS lookup
after the start) inherit its CPUs; the gateway moves those that exist at the end of its start.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Collection, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gateway.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the gateway's parts run: ``event_loop`` for the event-loop thread, ``others`` for everything else."""

    event_loop: frozenset[int]
    others: frozenset[int]

    def describe(self) -> str:
        return (
            f"event loop on CPUs {_cpu_list(self.event_loop)}, helpers and the Kafka writer on {_cpu_list(self.others)}"
        )


def plan_placement(event_loop: Collection[int], allowed: Set[int]) -> Placement | None:
    """The placement for config ``cpus.event_loop`` on a process that may use the CPUs ``allowed`` (pure).

    None when ``event_loop`` is empty (the OS places everything). ConfigError when one of its CPUs is not
    allowed (absent, offline, or outside the process's cpuset) or when it leaves no CPU for the rest.
    """
    if not event_loop:
        return None
    loop_cpus = frozenset(event_loop)
    missing = loop_cpus - allowed
    if missing:
        raise ConfigError(
            f"cpus.event_loop: CPU {_cpu_list(missing)} is not one this process may use "
            f"(it may use {_cpu_list(allowed)})"
        )
    others = frozenset(allowed) - loop_cpus
    if not others:
        raise ConfigError(
            f"cpus.event_loop takes every CPU this process may use ({_cpu_list(allowed)}); "
            "leave at least one for the helpers and the Kafka writer, or remove cpus.event_loop"
        )
    return Placement(loop_cpus, others)


def placement_for(event_loop: Collection[int]) -> Placement | None:
    """:func:`plan_placement` on this process's CPUs; None (the OS is not asked) when ``event_loop`` is empty."""
    return plan_placement(event_loop, allowed_cpus()) if event_loop else None


def allowed_cpus() -> frozenset[int]:
    """The CPUs this process may use; ConfigError where CPU placement is not supported (not Linux)."""
    if not hasattr(os, "sched_getaffinity"):
        raise ConfigError("cpus.event_loop needs Linux (sched_setaffinity); remove it on this system")
    return frozenset(os.sched_getaffinity(0))


def apply_placement(placement: Placement, loop: asyncio.AbstractEventLoop) -> None:
    """Put the calling thread (``loop``'s) on ``placement.event_loop``, this process's other threads on
    ``placement.others``, and give ``loop`` a default executor whose threads start on ``placement.others``."""
    os.sched_setaffinity(0, placement.event_loop)  # 0: the calling thread
    loop.set_default_executor(
        ThreadPoolExecutor(
            thread_name_prefix="fxgw-helper", initializer=os.sched_setaffinity, initargs=(0, placement.others)
        )
    )
    place_other_threads(placement.others)


def place_other_threads(cpus: frozenset[int]) -> None:
    """Put every thread of this process but the calling one on ``cpus``."""
    place_threads(os.getpid(), cpus, keep=threading.get_native_id())


def place_threads(pid: int, cpus: frozenset[int], *, keep: int | None = None) -> None:
    """Put every thread of process ``pid`` but ``keep`` on ``cpus``; the threads they start inherit it.

    Threads (or the process) that ended meanwhile are skipped.
    """
    try:
        names = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return
    for name in names:
        tid = int(name)
        if tid != keep:
            try:
                os.sched_setaffinity(tid, cpus)
            except ProcessLookupError:
                continue


def _cpu_list(cpus: Collection[int]) -> str:
    return ", ".join(str(cpu) for cpu in sorted(cpus))
