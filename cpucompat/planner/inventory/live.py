"""Live hosts read over libvirt, concurrently and each within its deadline."""
from __future__ import annotations

import collections
import queue
import threading
import time

from ...engine.cpu import Cpu
from ...engine.cpumap import CpuMap
from ...errors import CpuCompatError
from .found import Found, OnProgress

__all__ = ["MAX_CONCURRENT_HOSTS", "from_uris"]

MAX_CONCURRENT_HOSTS = 16


def from_uris(uris: list[str], cpumap: CpuMap, timeout: float,
              on_progress: OnProgress | None = None) -> Found:
    """Read hosts over libvirt, MAX_CONCURRENT_HOSTS at a time, each within `timeout`
    seconds of its own start; `on_progress(done, len(uris), "hosts")` hears of
    each host answered or given up.

    libvirt calls cannot be cancelled: an attempt past its deadline is
    reported and abandoned on a daemon thread, which neither delays the
    next host nor keeps the process alive at exit.  It no longer holds a
    slot (else hung hosts would starve every host after them), so each
    hung host adds a thread and its connection beyond the limit until
    libvirt gives up.
    """
    from ...inputs.live import host_cpu_from_libvirt

    answers: queue.SimpleQueue[tuple[str, Cpu | None, str | None]] = queue.SimpleQueue()

    def attempt(uri: str) -> None:
        try:
            answers.put((uri, host_cpu_from_libvirt(uri, cpumap), None))
        except CpuCompatError as exc:
            answers.put((uri, None, str(exc)))
        except Exception as exc:  # a bug must still answer, or the host would wait out its timeout
            answers.put((uri, None, f"internal error: {type(exc).__name__}: {exc}"))

    found = Found()
    waiting = collections.deque(uris)
    running: dict[str, float] = {}  # URI → deadline
    done = 0
    while waiting or running:
        while waiting and len(running) < MAX_CONCURRENT_HOSTS:
            uri = waiting.popleft()
            running[uri] = time.monotonic() + timeout
            threading.Thread(target=attempt, args=(uri,), name=f"cpucompat {uri}", daemon=True).start()
        try:
            uri, cpu, error = answers.get(timeout=max(0.0, min(running.values()) - time.monotonic()))
        except queue.Empty:
            now = time.monotonic()
            late = [uri for uri, deadline in running.items() if deadline <= now]
            for uri in late:
                del running[uri]
                found.failure(uri, f"{uri}: no answer within {timeout:g} s")
            done += len(late)
        else:
            if running.pop(uri, None) is None:
                continue  # answered after its deadline: already reported
            if cpu is not None:
                found.host(uri, cpu)
            else:
                found.failure(uri, error or "no CPU")
            done += 1
        if on_progress is not None:
            on_progress(done, len(uris), "hosts")
    return found
