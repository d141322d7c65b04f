"""A pool of pre-started sandbox workers that imported numpy and sympy once and fork a child per call.

Thread-safe: up to ``size`` calls run at once; more wait for a free worker. A worker that dies or
hangs is replaced. The pool owns its processes: :meth:`close` (or leaving a ``with`` block, garbage
collection, or interpreter exit) stops them all. A pool cannot be pickled; owners keep it out of
their pickled state and build a new one when needed.
"""

from __future__ import annotations

import os
import queue
import threading
import weakref

from spear_envs.math_tool.sandbox.executor import ExecutionResult, Isolation, SandboxLimits, WorkerProcess


class SandboxPool:
    """``size`` pre-started workers sharing one set of :class:`SandboxLimits`."""

    def __init__(self, size: int = 1, limits: SandboxLimits | None = None):
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"pool size must be a positive int, got {size!r}")
        self.size = size
        self.limits = limits or SandboxLimits()
        self._workers: list[WorkerProcess] = [WorkerProcess(preload=True) for _ in range(size)]
        self._idle: queue.Queue[WorkerProcess] = queue.Queue()
        for worker in self._workers:
            self._idle.put(worker)
        self._lock = threading.Lock()
        self._closed = False
        self._finalizer = weakref.finalize(self, _close_all, self._workers)

    @property
    def isolation(self) -> Isolation:
        """What the workers enforce (waits for one worker to be ready)."""
        worker = self._idle.get()
        try:
            return worker.wait_ready()
        finally:
            self._idle.put(worker)

    def run(self, code: str) -> ExecutionResult:
        """Run ``code`` (the preamble is added) in a fresh sandboxed child of a free worker."""
        if self._closed:
            raise RuntimeError("this SandboxPool is closed")
        worker = self._idle.get()
        try:
            result = worker.run(code, self.limits)
        finally:
            if not worker.alive and not self._closed:
                worker = self._replace(worker)
            self._idle.put(worker)
        return result

    def close(self) -> None:
        """Stop every worker (idempotent)."""
        self._closed = True
        self._finalizer()

    def _replace(self, dead: WorkerProcess) -> WorkerProcess:
        dead.close()
        fresh = WorkerProcess(preload=True)
        with self._lock:
            self._workers[self._workers.index(dead)] = fresh
        return fresh

    def __enter__(self) -> "SandboxPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self):
        raise TypeError("a SandboxPool holds live processes and cannot be pickled; build a new one")


def _close_all(workers: list[WorkerProcess]) -> None:
    for worker in list(workers):
        worker.close()


_SHARED: dict[tuple[int, int, SandboxLimits], SandboxPool] = {}
_SHARED_LOCK = threading.Lock()


def shared_pool(size: int = 1, limits: SandboxLimits | None = None) -> SandboxPool:
    """The process-wide pool for ``(size, limits)``, started on first use and stopped at interpreter exit.

    Envs that share it start no workers of their own, so making many short-lived envs (an evaluation
    builds one per held-out task) costs no interpreter start-ups. Callers must not close it. A forked
    child gets its own pools (the key holds the process id)."""
    key = (os.getpid(), size, limits or SandboxLimits())
    with _SHARED_LOCK:
        pool = _SHARED.get(key)
        if pool is None or pool._closed:
            pool = _SHARED[key] = SandboxPool(size, key[2])
        return pool
