"""The per-call memory and process cap of the sandbox: a cgroup per snippet, or rlimits whose product fits.

Standalone (standard library only): ``worker.py`` loads this file by its path. Three modes, the first one
the machine allows (:func:`probe_cap`; the sandbox reports it as ``Isolation.memory_cap``):

* ``"cgroup2"``: every sandbox worker gets its own cgroup v2 (:class:`SandboxCgroup`) that holds one call
  at a time and is emptied after each: ``memory.max = memory_mb`` (no swap) for what the call's processes
  allocate and ``pids.max = max_processes`` (+ the worker); all the call's processes together are capped,
  and when the kernel's OOM killer kills one of them the worker stops the whole call. Needs a writable
  cgroup2 hierarchy whose ``memory`` and ``pids`` controllers can be enabled for our folder (root on a
  VM, or a delegated subtree).
* ``"cgroup1"``: the same with the legacy ``memory`` (``memory.limit_in_bytes``, and the memory+swap
  limit where swap is accounted) and ``pids`` hierarchies, where those are what the machine mounts.
* ``"rlimit"``: no usable cgroup (non-root without delegation). Limits are per process, so the budget
  is split: each process may map ``memory_mb / max_processes`` MB of address space and at most
  ``max_processes`` processes run, so the product fits ``memory_mb``
  (``RLIMIT_AS x max_processes <= memory budget``).

Set ``SPEAR_SANDBOX_CGROUPS=0`` to force ``"rlimit"`` (probed once per process).
"""

from __future__ import annotations

import functools
import os
import signal
import time

MODES = ("cgroup2", "cgroup1", "rlimit")
#: the smallest address space one sandboxed Python process gets in "rlimit" mode (a forked pool worker
#: with numpy and sympy imported maps about 140 MB)
MIN_PROCESS_MB = 256
#: processes a call may have by default: with a cgroup, and without one (where the budget is split)
DEFAULT_MAX_PROCESSES = {"cgroup2": 32, "cgroup1": 32, "rlimit": 2}
_PREFIX = "spear-sandbox"


def process_rlimits(mode: str, memory_mb: int, max_processes: int) -> tuple[int, int]:
    """``(RLIMIT_AS bytes, RLIMIT_NPROC)`` for one sandboxed process.

    With a cgroup the whole call is capped at ``memory_mb``, and each process at the same figure;
    in ``"rlimit"`` mode each gets ``memory_mb // max_processes`` MB, so their sum fits the budget.
    """
    per_process_mb = memory_mb if mode != "rlimit" else memory_mb // max_processes
    return per_process_mb << 20, max_processes


def check_budget(mode: str, memory_mb: int, max_processes: int) -> None:
    """Raise ``ValueError`` when ``"rlimit"`` mode would leave a process too little memory to start."""
    if mode == "rlimit" and memory_mb // max_processes < MIN_PROCESS_MB:
        raise ValueError(
            f"this machine offers the sandbox no cgroup, so the memory cap is per process: "
            f"memory_mb={memory_mb} / max_processes={max_processes} leaves {memory_mb // max_processes} MB "
            f"per process, below the {MIN_PROCESS_MB} MB a sandboxed Python needs; use max_processes <= "
            f"{max(memory_mb // MIN_PROCESS_MB, 1)} or a larger memory_mb")


@functools.lru_cache(maxsize=1)
def probe_cap() -> dict:
    """Where per-call cgroups can be made: ``{"mode": ..., "parents": {name: folder}}`` (JSON-able).

    ``parents`` maps ``"unified"`` (cgroup2) or ``"memory"`` and ``"pids"`` (cgroup1) to the folder
    under which each call's cgroup is created; empty for ``"rlimit"``. Probed once per process by
    creating and removing a test cgroup.
    """
    if os.environ.get("SPEAR_SANDBOX_CGROUPS", "1") == "0":
        return {"mode": "rlimit", "parents": {}}
    mounts = _cgroup_mounts()
    own = _own_cgroups()
    for mode, parents in (("cgroup2", _v2_parents(mounts, own)), ("cgroup1", _v1_parents(mounts, own))):
        if parents and _try_create(mode, parents):
            return {"mode": mode, "parents": parents}
    return {"mode": "rlimit", "parents": {}}


class SandboxCgroup:
    """A worker's own cgroup(s), holding one call at a time; ``cap`` is :func:`probe_cap`'s answer.

    The worker joins it once (:meth:`join`): moving a process between cgroups costs ~15 ms on cgroup v1,
    forking inside one costs nothing, so every call's processes are born in it. Before a call the limits
    are set for that call (:meth:`set_limits`: ``memory_mb`` for the memory the call's processes add,
    ``max_processes`` plus the worker itself); after it every process but the worker is killed
    (:meth:`kill_call`), so nothing carries over. The worker's own pages stay charged where it lived
    before (charges do not move with a process), and it protects itself from the OOM killer
    (``oom_score_adj = -1000``; its children reset theirs, :func:`unprotect_child`).
    """

    def __init__(self, cap: dict, tag: str = ""):
        self.mode, self.cap = cap["mode"], cap
        name = f"{_PREFIX}-{os.getpid()}{'-' + tag if tag else ''}"
        self.dirs = [os.path.join(parent, name) for parent in cap["parents"].values()]
        self._limits: tuple[int, int] | None = None
        created = []
        try:
            for folder in self.dirs:
                os.mkdir(folder, 0o755)
                created.append(folder)
        except OSError:
            for folder in created:
                _rmdir(folder)
            raise

    def join(self) -> None:
        """Move the calling process (the worker) in, shielded from the OOM killer where allowed."""
        for folder in self.dirs:
            _write(os.path.join(folder, "cgroup.procs"), str(os.getpid()))
        try:
            _write("/proc/self/oom_score_adj", "-1000")
        except OSError:  # not privileged: the OOM killer may then pick the worker, which the pool replaces
            pass

    def set_limits(self, memory_mb: int, max_processes: int) -> None:
        """Cap the next call at ``memory_mb`` and ``max_processes`` (the worker is not counted)."""
        if self._limits != (memory_mb, max_processes):
            _write_limits(self.mode, self.dirs, memory_mb << 20, max_processes + 1)
            self._limits = (memory_mb, max_processes)

    def oom_kills(self) -> int:
        """How many processes the kernel has killed in this cgroup for exceeding the memory cap (ever)."""
        name = "memory.events" if self.mode == "cgroup2" else "memory.oom_control"
        for folder in self.dirs:
            path = os.path.join(folder, name)
            if os.path.exists(path):
                fields = dict(line.split() for line in _read(path).splitlines() if len(line.split()) == 2)
                return int(fields.get("oom_kill", 0))
        return 0

    def kill_call(self, deadline_s: float = 2.0) -> None:
        """SIGKILL every process in the cgroup(s) but the worker, until none is left or ``deadline_s``."""
        me, end = os.getpid(), time.monotonic() + deadline_s
        for folder in self.dirs:
            while time.monotonic() < end:
                pids = [int(p) for p in _read(os.path.join(folder, "cgroup.procs")).split() if int(p) != me]
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.002)

    def leave_and_remove(self) -> None:
        """Move the worker back to the parent cgroup(s) and delete its own (at worker exit)."""
        for parent, folder in zip(self.cap["parents"].values(), self.dirs):
            try:
                _write(os.path.join(parent, "cgroup.procs"), str(os.getpid()))
            except OSError:
                pass
            _rmdir(folder)


def unprotect_child() -> None:
    """In a call's child: give up the worker's OOM shield, so the kernel kills the call, not the worker."""
    try:
        _write("/proc/self/oom_score_adj", "0")
    except OSError:
        pass


def remove_stale(cap: dict) -> None:
    """Delete the cgroups of workers that are gone (a worker killed with SIGKILL cannot remove its own)."""
    for parent in cap["parents"].values():
        try:
            names = [n for n in os.listdir(parent) if n.startswith(_PREFIX + "-")]
        except OSError:
            continue
        for name in names:
            pid = name[len(_PREFIX) + 1:].split("-")[0]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                _rmdir(os.path.join(parent, name))


# --------------------------------------------------------------------------------------- probing
def _cgroup_mounts() -> list[tuple[str, str, set[str]]]:
    try:
        return parse_mountinfo(_read("/proc/self/mountinfo"))
    except OSError:
        return []


def _own_cgroups() -> dict[str, str]:
    try:
        return parse_proc_cgroup(_read("/proc/self/cgroup"))
    except OSError:
        return {}


def parse_mountinfo(text: str) -> list[tuple[str, str, set[str]]]:
    """``(fstype, mount point, super options)`` of every cgroup mount in a ``/proc/<pid>/mountinfo``."""
    mounts = []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
            mounts.append((tail[0], fields[4], set(tail[2].split(","))))
    return mounts


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """Our cgroup path per v1 controller, and under ``""`` the v2 one, from a ``/proc/<pid>/cgroup``."""
    own = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") if parts[1] else [""]:
                own[controller] = parts[2]
    return own


def _v2_parents(mounts: list, own: dict[str, str]) -> dict[str, str]:
    """A cgroup2 folder (the hierarchy's root, else our own cgroup) with memory and pids enabled below."""
    for fstype, point, _ in mounts:
        if fstype != "cgroup2":
            continue
        for folder in (point, os.path.join(point, own.get("", "/").lstrip("/"))):
            if _enable_v2_controllers(folder):
                return {"unified": folder}
    return {}


def _enable_v2_controllers(folder: str) -> bool:
    try:
        available = set(_read(os.path.join(folder, "cgroup.controllers")).split())
        if not {"memory", "pids"} <= available:
            return False
        enabled = set(_read(os.path.join(folder, "cgroup.subtree_control")).split())
        missing = {"memory", "pids"} - enabled
        if missing:
            _write(os.path.join(folder, "cgroup.subtree_control"), " ".join(f"+{c}" for c in sorted(missing)))
        return True
    except OSError:
        return False


def _v1_parents(mounts: list, own: dict[str, str]) -> dict[str, str]:
    """Our own cgroup folder in the legacy memory and pids hierarchies (both needed)."""
    parents = {}
    for controller in ("memory", "pids"):
        point = next((p for fstype, p, opts in mounts if fstype == "cgroup" and controller in opts), None)
        if point is None:
            return {}
        parents[controller] = os.path.join(point, own.get(controller, "/").lstrip("/"))
    return parents


def _try_create(mode: str, parents: dict[str, str]) -> bool:
    try:
        probe = SandboxCgroup({"mode": mode, "parents": parents}, tag="probe")
    except OSError:
        return False
    try:
        probe.set_limits(MIN_PROCESS_MB, 4)
        return True
    except (OSError, ValueError):
        return False
    finally:
        for folder in probe.dirs:
            _rmdir(folder)


# --------------------------------------------------------------------------------------- file helpers
def _write_limits(mode: str, dirs: list[str], memory_bytes: int, max_processes: int) -> None:
    for folder in dirs:
        files = os.listdir(folder)
        if mode == "cgroup2":
            _write(os.path.join(folder, "memory.max"), str(memory_bytes))
            for optional, value in (("memory.swap.max", "0"),):
                if optional in files:
                    _write(os.path.join(folder, optional), value)
            _write(os.path.join(folder, "pids.max"), str(max_processes))
        elif "memory.limit_in_bytes" in files:
            order = ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]  # memory+swap >= memory always
            if "memory.memsw.limit_in_bytes" not in files:
                order = order[:1]
            elif memory_bytes > int(_read(os.path.join(folder, order[1]))):
                order.reverse()
            for name in order:
                _write(os.path.join(folder, name), str(memory_bytes))
        elif "pids.max" in files:
            _write(os.path.join(folder, "pids.max"), str(max_processes))
        else:
            raise ValueError(f"{folder} has neither memory nor pids limits")


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _rmdir(folder: str) -> bool:
    try:
        os.rmdir(folder)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True
