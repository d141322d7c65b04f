"""Sandbox worker: a standalone process that runs Python snippets in forked, locked-down children.

This file imports nothing from spear_envs: it is started as ``python -I -B worker.py CONFIG_JSON`` (inside
``unshare -m -n`` when the parent is root) and talks to its parent over stdin/stdout, one JSON object per
line. On start it answers ``{"ready": true, "isolation": {...}}``; then for every request
``{"source": str, "limits": {...}}`` it answers one result object (see :func:`run_snippet`). It exits on
EOF, or after one request when started with ``"once": true`` (the plain one-process-per-call executor).

Per snippet the worker forks a child that:

* starts a new session (so the whole process group can be killed) and gets stdin from /dev/null and
  stdout/stderr on pipes whose captured size is capped;
* works in a fresh temporary directory, with a scrubbed environment (PATH, HOME=TMPDIR=the directory,
  LANG, one BLAS/OpenMP thread);
* as root: switches to a user id no other process uses (``uid_base + worker pid``), so it cannot signal
  or write into anything of the parent's, and ``RLIMIT_NPROC`` caps its processes. It keeps
  ``CAP_DAC_READ_SEARCH`` only when the interpreter's own files are not world-readable (then reading is
  not restricted), and sets ``no_new_privs``;
* sets rlimits: address space, CPU seconds, file size, processes, open files, no core dumps;
* runs the source as ``__main__`` from ``main.py`` in its directory.

The worker kills the child's process group at the wall-clock timeout and, as root, every process of the
sandbox user id after each snippet (escaped daemons included). It empties its private ``/tmp``-style
mounts between snippets, so nothing carries over from one call to the next.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import traceback

PR_SET_PDEATHSIG, PR_SET_KEEPCAPS, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 8, 36, 38
CAP_DAC_READ_SEARCH = 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
PRIVATE_TMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


def main() -> None:
    config = json.loads(sys.argv[1])
    proto_in, proto_out = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)  # stray prints from imported modules never corrupt the protocol
    # orphans of a snippet (a fork bomb's children) become ours, so we can reap them before the next call
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    isolation = _set_up(config)
    _send(proto_out, {"ready": True, "isolation": isolation})
    for line in proto_in:
        request = json.loads(line)
        try:
            result = run_snippet(request["source"], request["limits"], isolation)
        except Exception as exc:  # a worker bug must not kill the worker silently
            result = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
        _send(proto_out, result)
        _empty_private_tmp(isolation)
        if config.get("once"):
            break


def _send(stream, obj: dict) -> None:
    stream.write(json.dumps(obj).encode() + b"\n")
    stream.flush()


# --------------------------------------------------------------------------------------- set-up
def _set_up(config: dict) -> dict:
    """Mount private temp dirs, pre-import modules, and describe the isolation in force."""
    isolation = {
        "network": config.get("network", "none"),
        "sandbox_uid": None,
        "keep_read_cap": False,
        "private_tmp": [],
    }
    if os.geteuid() == 0:
        isolation["sandbox_uid"] = int(config.get("uid_base", 3_000_000_000)) + os.getpid()
        isolation["keep_read_cap"] = not _interpreter_world_readable()
        if config.get("private_tmp"):
            isolation["private_tmp"] = _mount_private_tmp()
    for module in config.get("preload", []):
        __import__(module)
    if config.get("preamble"):
        exec(compile(config["preamble"], "<preamble>", "exec"), {"__name__": "__preload__"})
    return isolation


def _interpreter_world_readable() -> bool:
    """True when every directory on the way to the stdlib and site-packages is world-traversable."""
    paths = {os.path.dirname(os.__file__)} | {p for p in sys.path if p.endswith("site-packages")}
    for path in paths:
        while path and path != "/":
            try:
                if not os.stat(path).st_mode & stat.S_IXOTH:
                    return False
            except OSError:
                return False
            path = os.path.dirname(path)
    return True


def _mount_private_tmp() -> list[str]:
    """Mount a small tmpfs over each temp dir (we are in our own mount namespace). Skips a dir that holds
    the interpreter or its packages, which must stay visible."""
    needed = [os.path.realpath(p) for p in [sys.prefix, sys.base_prefix, *sys.path] if p]
    mounted = []
    for directory in PRIVATE_TMP_DIRS:
        if not os.path.isdir(directory) or any(p == directory or p.startswith(directory + "/") for p in needed):
            continue
        cmd = ["mount", "-t", "tmpfs", "-o", "size=64m,mode=1777,nosuid,nodev", "spear-sandbox", directory]
        if subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
            mounted.append(directory)
    return mounted


def _empty_private_tmp(isolation: dict) -> None:
    for directory in isolation["private_tmp"]:
        for name in os.listdir(directory):
            path = os.path.join(directory, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass


# --------------------------------------------------------------------------------------- one snippet
def run_snippet(source: str, limits: dict, isolation: dict) -> dict:
    """Run ``source`` in a fresh child; return status, returncode, signal, stdout, stderr, duration_s.

    ``status`` is ``"finished"`` (the child exited or died by a signal) or ``"timeout"`` (killed at the
    wall-clock limit).
    """
    uid = isolation["sandbox_uid"]
    workdir = tempfile.mkdtemp(prefix="spear-sandbox-")
    try:
        main_py = os.path.join(workdir, "main.py")
        with open(main_py, "w", encoding="utf-8") as f:
            f.write(source)
        if uid is not None:
            for path in (workdir, main_py):
                os.chown(path, uid, uid)
        os.chmod(workdir, 0o700)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:  # ------------------------------------------------------------ child
            try:
                os.close(out_r)
                os.close(err_r)
                _become_sandboxed(workdir, out_w, err_w, limits, isolation)
                code = _run_main(main_py)
            except BaseException:
                code = 125
                try:
                    traceback.print_exc()
                    sys.stderr.flush()
                except BaseException:
                    pass
            os._exit(code)
        # ------------------------------------------------------------------------------ parent
        os.close(out_w)
        os.close(err_w)
        outcome = _supervise(pid, out_r, err_r, start + float(limits["timeout_s"]), limits, isolation)
        outcome["duration_s"] = round(time.monotonic() - start, 4)
        _reap_orphans(time.monotonic() + 2.0)
        return outcome
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _reap_orphans(deadline: float) -> None:
    """Kill and wait for every leftover child (orphans are re-parented to us), so nothing outlives its
    call or counts against the next call's process limit."""
    next_kill = 0.0
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() >= next_kill:
                _kill_children()
                next_kill = time.monotonic() + 0.05
            time.sleep(0.001)


def _kill_children() -> None:
    me = str(os.getpid())
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    ppid = f.read().rsplit(")", 1)[1].split()[1]
                if ppid == me:
                    os.kill(int(name), signal.SIGKILL)
            except (OSError, IndexError):
                pass


def _become_sandboxed(workdir: str, out_w: int, err_w: int, limits: dict, isolation: dict) -> None:
    """Child side: session, fds, environment, user id, rlimits. Raises if any step fails."""
    os.setsid()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.closerange(3, 1 << 16)
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
    sys.stdin = open(0, "r", closefd=False)
    os.environ.clear()
    os.environ.update({
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "PYTHONIOENCODING": "utf-8",
    })
    tempfile.tempdir = workdir
    os.chdir(workdir)
    uid = isolation["sandbox_uid"]
    if uid is not None:
        _switch_user(uid, keep_read_cap=isolation["keep_read_cap"])
        nproc = int(limits["max_processes"])
    else:  # RLIMIT_NPROC counts all processes of our (shared) user: allow ours plus the cap
        nproc = _processes_of_user(os.getuid()) + int(limits["max_processes"])
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # dies with the worker
    mem = int(limits["memory_mb"]) << 20
    cpu = int(float(limits["timeout_s"])) + 1
    for res, value in (
        (resource.RLIMIT_AS, (mem, mem)),
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_FSIZE, (int(limits["file_size_mb"]) << 20,) * 2),
        (resource.RLIMIT_NPROC, (nproc, nproc)),
        (resource.RLIMIT_NOFILE, (int(limits["max_open_files"]),) * 2),
        (resource.RLIMIT_CORE, (0, 0)),
    ):
        resource.setrlimit(res, value)
    if isolation["network"] == "audit-hook":
        sys.addaudithook(_deny_network)


def _switch_user(uid: int, *, keep_read_cap: bool) -> None:
    """Drop root for ``uid``; optionally keep only CAP_DAC_READ_SEARCH (read any file, write none)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if keep_read_cap and libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_KEEPCAPS) failed")
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise OSError("could not switch to the sandbox user id")
    if keep_read_cap:
        class Header(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

        class Data(ctypes.Structure):
            _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                        ("inheritable", ctypes.c_uint32)]

        data = (Data * 2)()
        data[0].effective = data[0].permitted = 1 << CAP_DAC_READ_SEARCH
        if libc.capset(ctypes.byref(Header(_LINUX_CAPABILITY_VERSION_3, 0)), data) != 0:
            raise OSError(ctypes.get_errno(), "capset failed")
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


def _processes_of_user(uid: int) -> int:
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                count += os.stat(f"/proc/{name}").st_uid == uid
            except OSError:
                pass
    return count


def _deny_network(event: str, args: tuple) -> None:
    if event in ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo"):
        raise PermissionError("network access is disabled in this sandbox")


def _run_main(path: str) -> int:
    """Execute ``path`` as ``__main__`` the way ``python path`` would; return the exit code."""
    import builtins
    import threading

    sys.argv = [os.path.basename(path)]
    sys.path[:0] = [os.path.dirname(path)]
    # a relative file name (we run in its folder) keeps temp paths out of tracebacks
    namespace = {"__name__": "__main__", "__file__": os.path.basename(path), "__builtins__": builtins}
    code = 0
    try:
        with open(path, encoding="utf-8") as f:
            compiled = compile(f.read(), os.path.basename(path), "exec")
        exec(compiled, namespace)
        for thread in threading.enumerate():
            if thread is not threading.main_thread() and not thread.daemon:
                thread.join()
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException as exc:
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None  # hide this frame
        traceback.print_exception(type(exc), exc, tb)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    return code & 0xFF


def _supervise(pid: int, out_r: int, err_r: int, deadline: float, limits: dict, isolation: dict) -> dict:
    """Collect the child's output (head and tail kept, ``max_output_bytes`` each) until it ends or the
    deadline passes; then kill what is left of it."""
    cap = int(limits["max_output_bytes"])
    captures = {out_r: _Capture(cap), err_r: _Capture(cap)}
    streams = set(captures)
    status, wait_status = "finished", None
    drain_until = None
    while streams or wait_status is None:
        now = time.monotonic()
        if wait_status is None:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                wait_status = st
                _kill_everything(pid, isolation)  # leftovers may hold the pipes open
                drain_until = now + 1.0
            elif now >= deadline:
                status = "timeout"
                _kill_everything(pid, isolation)
                wait_status = os.waitpid(pid, 0)[1]
                drain_until = now + 1.0
        if drain_until is not None and now >= drain_until:
            break
        if not streams:
            time.sleep(0.001)
            continue
        ready, _, _ = select.select(list(streams), [], [], 0.02)
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if chunk:
                captures[fd].add(chunk)
            else:
                os.close(fd)
                streams.discard(fd)
    for fd in streams:
        os.close(fd)
    returncode = os.waitstatus_to_exitcode(wait_status)
    sig = _signal_name(-returncode) if returncode < 0 else None
    return {
        "status": status,
        "returncode": returncode,
        "signal": None if status == "timeout" else sig,
        "stdout": captures[out_r].text(),
        "stderr": captures[err_r].text(),
    }


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class _Capture:
    """Keeps the first and the last ``cap`` bytes of a stream and counts what lies between."""

    def __init__(self, cap: int):
        self.cap, self.head, self.tail, self.total = cap, bytearray(), bytearray(), 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.cap - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            del self.tail[:-self.cap]

    def text(self) -> str:
        omitted = self.total - len(self.head) - len(self.tail)
        middle = f"\n...[{omitted} bytes of output not captured]...\n".encode() if omitted > 0 else b""
        return (bytes(self.head) + middle + bytes(self.tail)).decode("utf-8", errors="replace")


def _kill_everything(pid: int, isolation: dict) -> None:
    """SIGKILL the child's process group and, as root, every process of the sandbox user."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    uid = isolation["sandbox_uid"]
    if uid is None:
        return
    for _ in range(2):
        helper = os.fork()
        if helper == 0:
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                if os.getuid() == uid and uid != 0:  # never kill(-1) as anything but the sandbox user
                    os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(helper, 0)


if __name__ == "__main__":
    main()
