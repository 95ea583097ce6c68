"""The queue of injected faults, consumed by the requests they match."""

from __future__ import annotations

from dataclasses import replace

from .config import Fault


class FaultQueue:
    """Faults in injection order; each affects its next `times` matching requests."""

    def __init__(self) -> None:
        self._queue: list[Fault] = []

    def add(self, fault: Fault) -> None:
        if fault.times < 1:
            raise ValueError("a fault must affect at least one request")
        self._queue.append(fault)

    def take_latency(self, method: str, path: str) -> float:
        """Consume every matching latency fault; the total seconds to stall."""
        return sum(f.seconds for f in self._take_all(method, path, latency=True))

    def take(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first matching non-latency fault, if any."""
        taken = self._take_all(method, path, latency=False)
        return taken[0] if taken else None

    def _take_all(self, method: str, path: str, *, latency: bool) -> list[Fault]:
        taken: list[Fault] = []
        for i, fault in enumerate(self._queue):
            if (fault.kind == "latency") != latency or not fault.matches(method, path):
                continue
            taken.append(fault)
            self._queue[i] = replace(fault, times=fault.times - 1)
            if not latency:
                break
        self._queue = [f for f in self._queue if f.times > 0]
        return taken

    def __len__(self) -> int:
        return len(self._queue)
