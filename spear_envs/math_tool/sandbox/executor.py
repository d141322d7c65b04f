"""Run model-written Python safely: limits, results, the reference preamble, and the plain executor.

Both executors drive ``worker.py`` (see its docstring for what happens to a snippet):

* :class:`SubprocessExecutor` starts a fresh interpreter for every call and imports the preamble there
  (simple, slow: the numpy and sympy imports dominate);
* :class:`~spear_envs.math_tool.sandbox.pool.SandboxPool` keeps pre-started workers that imported the
  heavy modules once and fork a child per call (fast).

Isolation in force (``Isolation``):

* **as root with ``unshare``** (dev box, CI, containers with CAP_SYS_ADMIN): the worker runs in its own
  network and mount namespaces (``unshare -m -n``): no network at all (loopback down). Snippets run
  ``chroot``-ed in a read-only view of the filesystem that holds only system libraries, a few ``/etc``
  files, five ``/dev`` nodes and the interpreter's own folders (see ``worker.py``), with a fresh per-call
  tmpfs on ``/tmp`` as their working directory, the only writable place. They run under a user id of
  their own with no capabilities: they cannot read ``/etc/shadow``, ``/root`` or the project tree (none
  of it exists in the view), cannot write outside their directory (``Read-only file system``), cannot
  signal the parent, and the process limit is enforced;
* **as root without namespaces** (``unshare`` missing or refused): the own user id without capabilities
  and the rlimits still apply, so snippets read only world-readable files and write only world-writable
  places of the host (``/tmp`` included; a pyenv interpreter under ``/root`` then cannot import modules
  lazily); network calls made through Python's ``socket`` module are refused by an audit hook;
* **not root**: snippets run as the calling user in a new temporary directory. Python ``socket`` calls are
  refused by the audit hook (code using ctypes or a subprocess can get around it), the process limit
  counts the user's other processes too, and the code can read and write whatever the user can: there is
  no filesystem containment. Use a container (or run as root) for untrusted code at scale.

In every mode, the **memory and process cap** (``Isolation.memory_cap``,
:mod:`~spear_envs.math_tool.sandbox.cgroups`): with a cgroup (v2, or v1 ``memory`` + ``pids``; root or a
delegated subtree) all of a call's processes together stay under ``memory_mb`` and ``max_processes``;
without one the limits are per process, ``memory_mb / max_processes`` each, so their sum still fits.

**Calls at once**: a pool runs up to ``size`` calls at the same time (MathTool's shared pool: 4, so an
env host's overlapping tool calls run side by side). Every limit above stays per call: each worker has
its own cgroup, and as root its own sandbox user id, so calls neither see, signal nor clean up each
other's processes. What concurrency changes: up to ``size x memory_mb`` may be in use at once per pool;
calls sharing a loaded CPU take longer on the wall clock, so one that needs nearly ``timeout_s`` alone
may hit the wall-clock kill (the CPU-seconds cap is unchanged); as non-root (``"rlimit"``) the process
cap counts the user's processes, so a call that starts processes while another call's run leaves it less
room, never more.
"""

from __future__ import annotations

import functools
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from spear_envs.math_tool.sandbox.cgroups import DEFAULT_MAX_PROCESSES, check_budget, probe_cap

WORKER_PATH = Path(__file__).with_name("worker.py")

#: Prepended to every snippet, as the reference tool does (plus ``fractions`` and ``sympy``).
PREAMBLE_MODULES = (
    "string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math", "random", "statistics",
    "itertools", "functools", "operator", "io", "sys", "json", "typing", "fractions",
)
PREAMBLE = "\n".join(
    [f"from {m} import *\nimport {m}" for m in PREAMBLE_MODULES] + ["import numpy as np", "import sympy", ""]
)
#: Modules the pool's workers import once, before forking.
HEAVY_MODULES = ("numpy", "sympy")
#: Run once by each pool worker after the preamble (output discarded): the sympy and numpy calls that
#: competition-math snippets make, so their lazy imports and caches are built before the worker forks.
WARMUP = """
x, y, n = sympy.symbols('x y n')
str(sympy.factor(x**4 - 1)); str(sympy.expand((x + y)**5)); str(sympy.simplify(sympy.sin(x)**2 + sympy.cos(x)**2))
sympy.solve([x + y - 3, x - y - 1], [x, y]); sympy.solve(x**2 - 2, x); sympy.nsimplify(0.5)
sympy.isprime(2**61 - 1); sympy.factorint(360); sympy.divisors(36); sympy.totient(36); sympy.primerange(1, 50)
sympy.binomial(10, 3); sympy.factorial(10); sympy.Rational(3, 4) + sympy.Rational(1, 6); sympy.gcd(12, 18)
sympy.summation(n**2, (n, 1, 10)); sympy.integrate(x**2, (x, 0, 1)); sympy.diff(sympy.sin(x), x)
sympy.limit(sympy.sin(x) / x, x, 0); sympy.sqrt(8); sympy.N(sympy.pi, 20); sympy.Matrix([[1, 2], [3, 4]]).det()
sympy.latex(x**2); sympy.sympify('x**2 + 1'); sympy.Poly(x**2 + 1, x).all_coeffs()
np.linalg.solve(np.eye(2), np.ones(2)); np.array([1, 2, 3]).sum(); fractions.Fraction(1, 3) + Fraction(1, 6)
math.comb(10, 3); math.gcd(12, 18)
"""

_FENCE = re.compile(r"```(?:python|py)[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


class SandboxError(RuntimeError):
    """The sandbox itself failed (a worker would not start); never raised for what a snippet does."""


@dataclass(frozen=True)
class SandboxLimits:
    """Per-call limits, validated here (so a bad one fails when the env is made). The defaults are the
    reference tool's (30 s, 1024 MB).

    ``memory_mb`` and ``max_processes`` cap the whole call (all its processes together) where the machine
    offers a cgroup; otherwise each process gets ``memory_mb / max_processes`` (see
    :mod:`~spear_envs.math_tool.sandbox.cgroups`). ``max_processes=None`` picks the mode's default
    (32 with a cgroup, 2 without).
    """

    timeout_s: float = 30.0  #: wall-clock seconds; CPU seconds are capped at ``int(timeout_s) + 1``
    memory_mb: int = 1024  #: memory of the whole call; each process's address space is capped too
    file_size_mb: int = 16  #: largest file the code may write
    max_processes: int | None = None  #: processes (and threads) the snippet may have at once
    max_open_files: int = 64
    max_output_bytes: int = 32768  #: per stream, the first and the last this many bytes are kept

    def __post_init__(self) -> None:
        mode = probe_cap()["mode"]
        if self.max_processes is None:
            object.__setattr__(self, "max_processes", DEFAULT_MAX_PROCESSES[mode])
        for name, value in asdict(self).items():
            kind, upper = _LIMIT_BOUNDS[name]
            if not isinstance(value, kind) or isinstance(value, bool) or not 0 < value <= upper:
                what = "a finite number" if kind is not int else "an int"
                raise ValueError(f"SandboxLimits.{name} must be {what} in (0, {upper}], got {value!r}")
        check_budget(mode, self.memory_mb, self.max_processes)


#: type and largest accepted value of each limit (NaN and infinity fail the range check)
_LIMIT_BOUNDS = {
    "timeout_s": ((int, float), 86_400), "memory_mb": (int, 1 << 20), "file_size_mb": (int, 1 << 20),
    "max_processes": (int, 4096), "max_open_files": (int, 1 << 16), "max_output_bytes": (int, 1 << 30),
}


@dataclass(frozen=True)
class ExecutionResult:
    """What one call did. ``status``: ``"finished"`` (exited, or died by ``signal``), ``"timeout"``
    (killed at the wall-clock limit) or ``"error"`` (the sandbox failed; ``error`` says why)."""

    status: str
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = None
    signal: str | None = None
    duration_s: float = 0.0
    error: str = ""
    memory_exceeded: bool = False  #: stopped at the call's memory cap (a cgroup OOM kill)


@dataclass(frozen=True)
class Isolation:
    """What a worker enforces (reported by the worker itself when it starts)."""

    network: str  #: "namespace" (no network at all) or "audit-hook" (Python sockets refused)
    sandbox_uid: int | None  #: the user id snippets run as (no capabilities); None: the caller's own
    filesystem: str  #: "read-only view" (only ``exposed`` is visible, read-only) or "host" (all of it)
    exposed: tuple[str, ...]  #: host paths visible to snippets in the view (read-only); empty for "host"
    memory_cap: str = "rlimit"  #: "cgroup2" / "cgroup1" (all of a call's processes together) or "rlimit"


class CodeExecutor(Protocol):
    """What the env needs from a sandbox."""

    limits: SandboxLimits

    def run(self, code: str) -> ExecutionResult: ...

    def close(self) -> None: ...


def extract_code(code: str) -> str:
    """The code inside the first ```` ```python ```` / ```` ```py ```` fence, else ``code`` unchanged."""
    match = _FENCE.search(code)
    return match.group(1) if match else code


def build_source(code: str) -> str:
    """The program that runs: the preamble, then the (unfenced) code."""
    return PREAMBLE + extract_code(code)


def not_utf8(code: str) -> str:
    """``""`` when ``code`` can be a source file, else the error Python would give (lone surrogates such
    as ``'\\ud800'`` have no UTF-8 form)."""
    try:
        code.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"SyntaxError: the code is not valid text: character {exc.start} is "
                f"{code[exc.start]!r}, a lone surrogate with no UTF-8 encoding\n")
    return ""


@functools.lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """True when we are root and ``unshare -m -n`` works here (probed once per process)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    try:
        probe = subprocess.run(["unshare", "-m", "-n", "--", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


class WorkerProcess:
    """One running ``worker.py``. Not thread-safe: one call at a time (the pool hands workers out).

    Args:
        preload: import the heavy modules and the preamble before the first call.
        once: the worker exits after one call (the plain executor).
        startup_timeout_s: how long to wait for the worker's ready message.
    """

    #: extra seconds past the snippet's own timeout before the worker is declared hung and killed
    GRACE_S = 15.0

    def __init__(self, *, preload: bool, once: bool = False, startup_timeout_s: float = 120.0):
        use_ns = namespaces_available()
        config = {
            "once": once,
            "network": "namespace" if use_ns else "audit-hook",
            "filesystem_view": use_ns,
            "view_modules": list(HEAVY_MODULES),
            "preload": list(HEAVY_MODULES) if preload else [],
            "preamble": PREAMBLE if preload else "",
            "memory_cap": probe_cap(),
            "warmup": WARMUP if preload else "",
        }
        prefix = ["unshare", "-m", "-n", "--"] if use_ns else []
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [*prefix, sys.executable, "-I", "-B", str(WORKER_PATH), json.dumps(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=env,
            start_new_session=True, close_fds=True,
        )
        self._buf = b""
        self._startup_deadline = time.monotonic() + startup_timeout_s
        self.isolation: Isolation | None = None

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def wait_ready(self) -> Isolation:
        """Block until the worker reported ready; raises :class:`SandboxError` if it cannot start."""
        if self.isolation is None:
            try:
                line = self._read_line(self._startup_deadline)
            except EOFError:
                line = None
            if line is None:
                self._stop()  # the log stays open until it is read (close() would close it first)
                self._log.seek(0)
                log = self._log.read().decode(errors="replace")[-2000:]
                self._log.close()
                raise SandboxError(f"the sandbox worker did not start; its output was:\n{log or '(none)'}")
            info = json.loads(line)["isolation"]
            self.isolation = Isolation(info["network"], info["sandbox_uid"], info["filesystem"],
                                       tuple(info["exposed"]), info.get("memory_cap", "rlimit"))
        return self.isolation

    def run(self, code: str, limits: SandboxLimits) -> ExecutionResult:
        """Run ``code`` (preamble added here). A worker that dies or hangs is killed and the call
        returns ``status="error"``; check :attr:`alive` afterwards."""
        self.wait_ready()
        unencodable = not_utf8(code)
        if unencodable:
            return ExecutionResult("finished", stderr=unencodable, returncode=1)
        request = json.dumps({"source": build_source(code), "limits": asdict(limits)}).encode() + b"\n"
        try:
            self._proc.stdin.write(request)
            self._proc.stdin.flush()
            line = self._read_line(time.monotonic() + limits.timeout_s + self.GRACE_S)
        except (BrokenPipeError, EOFError):
            self.close()
            return ExecutionResult("error", error="the sandbox worker died")
        if line is None:
            self.close()
            return ExecutionResult("error", error="the sandbox worker stopped answering and was killed")
        reply = json.loads(line)
        return ExecutionResult(
            status=reply["status"], stdout=reply.get("stdout", ""), stderr=reply.get("stderr", ""),
            returncode=reply.get("returncode"), signal=reply.get("signal"),
            duration_s=float(reply.get("duration_s", 0.0)), error=reply.get("error", ""),
            memory_exceeded=bool(reply.get("memory_exceeded", False)),
        )

    def close(self) -> None:
        """Stop the worker: EOF first (it finishes its call), SIGKILL to its group after 2 s."""
        self._stop()
        self._log.close()

    def _stop(self) -> None:
        if self._proc.stdin and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()

    def _read_line(self, deadline: float) -> bytes | None:
        """The next protocol line, or None at the deadline; ``EOFError`` if the worker went away. Output
        already waiting in the pipe is read even past the deadline (a pre-started worker's ready line,
        read at its first call)."""
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buf:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise EOFError
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line


class SubprocessExecutor:
    """The plain executor: a fresh interpreter per call, which imports the preamble itself."""

    def __init__(self, limits: SandboxLimits | None = None):
        self.limits = limits or SandboxLimits()

    def run(self, code: str) -> ExecutionResult:
        worker = WorkerProcess(preload=False, once=True)
        try:
            return worker.run(code, self.limits)
        finally:
            worker.close()

    def close(self) -> None:
        """Nothing to release: every call's process has already exited."""
