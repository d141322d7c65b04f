"""Sandbox worker: a standalone process that runs Python snippets in forked, locked-down children.

This file imports nothing from spear_envs: it is started as ``python -I -B worker.py CONFIG_JSON`` (inside
``unshare -m -n`` when the parent is root) and talks to its parent over stdin/stdout, one JSON object per
line. On start it answers ``{"ready": true, "isolation": {...}}``; then for every request
``{"source": str, "limits": {...}}`` it answers one result object (see :func:`run_snippet`). It exits on
EOF, or after one request when started with ``"once": true`` (the plain one-process-per-call executor).

As root inside its own mount namespace, the worker first builds a **read-only view** of the filesystem
(:func:`_build_view`): a tmpfs root holding only ``/usr`` (and the ``/bin``, ``/lib*`` links or folders),
``/etc/ld.so.*``, ``/etc/localtime``, ``/etc/alternatives``, ``/dev/{null,zero,full,random,urandom}``, and
the interpreter's own folders found at run time (``sys.base_prefix``, ``sys.prefix``, site-packages, the
folders of numpy and sympy), each bind-mounted read-only and nosuid at its host path. Nothing else exists
there: not ``/etc/shadow``, ``/root``, ``/home``, the project tree beside the venv, ``/proc``, ``/sys``
or the host's ``/tmp``. The worker itself keeps the full filesystem.

Per snippet the worker forks a child that:

* starts a new session (so the whole process group can be killed) and gets stdin from /dev/null and
  stdout/stderr on pipes whose captured size is capped;
* works in a fresh, empty working directory with a scrubbed environment (PATH, HOME=TMPDIR=the directory,
  LANG, one BLAS/OpenMP thread). In the view this is a new tmpfs mounted on ``/tmp`` (``/sandbox-tmp``
  when the interpreter itself lives under ``/tmp``) for this call only
  (``4 x file_size_mb`` MB, 10000 files; ``/dev/shm`` links to it) and the child ``chroot``s into the
  view, so the working directory is the only place it can write and the view the only place it can read;
  elsewhere it is a new temporary directory on the host;
* as root: switches to a user id no other process uses (``uid_base + worker pid``) with **no
  capabilities** (checked) and ``no_new_privs``, so it cannot signal or write into anything of the
  parent's, cannot leave the chroot, and ``RLIMIT_NPROC`` caps its processes;
* is born in the worker's own cgroup where the machine offers one (``cgroups.py``; the worker joined
  it once after its imports, and holds one call at a time): the memory and process count of all the
  call's processes together are capped, and when the kernel kills one of them for memory the worker
  stops the whole call and says so in stderr;
* sets rlimits: address space, CPU seconds, file size, processes, open files, no core dumps (without a
  cgroup, address space x processes fits the memory budget);
* runs the source as ``__main__`` from ``main.py`` in its directory.

The worker kills the child's process group at the wall-clock timeout and, as root, every process of the
sandbox user id after each snippet (escaped daemons included), then unmounts (or deletes) the working
directory, so nothing carries over from one call to the next.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from importlib import util as _import_util


def _load_sibling(name: str):
    """Import ``name``.py from this folder (we run with ``-I``: our folder is not on ``sys.path``)."""
    spec = _import_util.spec_from_file_location(f"spear_sandbox_{name}", os.path.join(os.path.dirname(
        os.path.abspath(__file__)), f"{name}.py"))
    module = _import_util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cgroups = _load_sibling("cgroups")
#: how often a running call's cgroup is asked whether the kernel killed one of its processes for memory
OOM_CHECK_S = 0.05
MEMORY_CAP_MESSAGE = ("MemoryError: the call's processes together exceeded the sandbox's memory cap "
                      "({memory_mb} MB) and were stopped")
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 36, 38
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def main() -> None:
    config = json.loads(sys.argv[1])
    proto_in, proto_out = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)  # stray prints from imported modules never corrupt the protocol
    # orphans of a snippet (a fork bomb's children) become ours, so we can reap them before the next call
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    isolation = _set_up(config)
    cgroup = _join_cgroup(isolation["cap"])
    _send(proto_out, {"ready": True, "isolation": isolation})
    try:
        for line in proto_in:
            request = json.loads(line)
            try:
                result = run_snippet(request["source"], request["limits"], isolation, cgroup)
            except Exception as exc:  # a worker bug must not kill the worker silently
                result = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
            _send(proto_out, result)
            if config.get("once"):
                break
    finally:
        if cgroup is not None:
            cgroup.leave_and_remove()


def _join_cgroup(cap: dict):
    """The worker's own cgroup, joined after the imports (so their pages are not charged to calls)."""
    if cap["mode"] == "rlimit":
        return None
    cgroups.remove_stale(cap)
    cgroup = cgroups.SandboxCgroup(cap)
    cgroup.join()
    return cgroup


def _send(stream, obj: dict) -> None:
    stream.write(json.dumps(obj).encode() + b"\n")
    stream.flush()


# --------------------------------------------------------------------------------------- set-up
def _set_up(config: dict) -> dict:
    """Build the filesystem view, pre-import modules, and describe the isolation in force."""
    isolation = {
        "network": config.get("network", "none"),
        "sandbox_uid": None,
        "filesystem": "host",
        "exposed": [],
        "view_root": None,
        "view_workdir": None,
        "memory_cap": config.get("memory_cap", {}).get("mode", "rlimit"),
        "cap": config.get("memory_cap") or {"mode": "rlimit", "parents": {}},
    }
    if os.geteuid() == 0:
        isolation["sandbox_uid"] = int(config.get("uid_base", 3_000_000_000)) + os.getpid()
        if config.get("filesystem_view"):  # only inside our own mount namespace
            needed = _interpreter_paths(config.get("view_modules", []))
            isolation["view_workdir"] = _view_workdir(needed)
            isolation["view_root"], isolation["exposed"] = _build_view(needed, isolation["view_workdir"])
            isolation["filesystem"] = "read-only view"
    _warm_up(config)
    return isolation


def _warm_up(config: dict) -> None:
    """Import the preload modules, run the preamble and the warm-up code once, then freeze the heap.

    The warm-up exercises what snippets typically call (sympy's solvers, simplification, number theory,
    printing) so its lazy imports and caches are filled here, once, and inherited by every forked child
    instead of being rebuilt per call. It runs in a namespace that is then dropped; a child gets a
    copy-on-write image of this process and cannot change it, so no state passes between calls.
    ``gc.freeze()`` moves every object made so far out of the collector's reach: a child's garbage
    collections then skip (and do not write to, hence copy) the worker's hundreds of thousands of objects.
    """
    import gc

    for module in config.get("preload", []):
        __import__(module)
    namespace = {"__name__": "__preload__"}
    if config.get("preamble"):
        exec(compile(config["preamble"], "<preamble>", "exec"), namespace)
    if config.get("warmup"):
        with open(os.devnull, "w") as null:
            stdout, sys.stdout = sys.stdout, null
            try:
                exec(compile(config["warmup"], "<warm-up>", "exec"), namespace)
            except Exception:  # only a speed-up: a library version without some call must not stop the pool
                traceback.print_exc()
            finally:
                sys.stdout = stdout
    del namespace
    if config.get("preload"):
        gc.collect()
        gc.freeze()


# --------------------------------------------------------------------------------------- filesystem view
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
#: host paths a snippet sees (read-only), besides the interpreter's own; missing ones are skipped
SYSTEM_PATHS = (
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives",
)
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
#: where the view's root may be mounted (the first one holding none of the interpreter's files)
VIEW_MOUNT_POINTS = ("/tmp", "/var/tmp", "/mnt", "/media", "/srv", "/run")
#: the snippet's working directory inside the view (also its HOME and TMPDIR; /dev/shm points here):
#: the first of these that holds none of the interpreter's files (a venv may live under /tmp)
VIEW_WORKDIRS = ("/tmp", "/sandbox-tmp")


def _interpreter_paths(modules: list[str]) -> list[str]:
    """Host directories the interpreter needs: its installation and venv prefixes, site-packages, and
    the folders holding ``modules`` (found without importing them)."""
    import importlib.util
    import site

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *site.getsitepackages()}
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            package_dir = os.path.dirname(spec.origin)
            paths.add(os.path.dirname(package_dir) if spec.submodule_search_locations else package_dir)
    return sorted(os.path.abspath(p) for p in paths if p and os.path.exists(p))


def _view_workdir(needed: list[str]) -> str:
    """The snippet's working directory in the view: ``/tmp`` unless interpreter files live there."""
    return next(d for d in VIEW_WORKDIRS if not any(_is_under(p, d) for p in needed))


def _build_view(needed: list[str], workdir: str) -> tuple[str, list[str]]:
    """Mount a read-only root holding only ``SYSTEM_PATHS``, ``DEVICES`` and ``needed`` (bound read-only,
    nosuid, at their host paths) plus an empty ``workdir``; return its path and what it exposes.

    Runs in the worker's own mount namespace (``unshare -m``), so the host never sees these mounts.
    Snippet children ``chroot`` into it; the worker itself keeps the full view.
    """
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    root = next((d for d in VIEW_MOUNT_POINTS if os.path.isdir(d) and not os.path.islink(d)
                 and not any(_is_under(p, d) for p in [*needed, *SYSTEM_PATHS])), None)
    if root is None:
        raise RuntimeError(f"no place to mount the sandbox view: each of {VIEW_MOUNT_POINTS} holds "
                           f"interpreter files ({needed})")
    os.umask(0o022)
    _mount("spear-view", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    exposed = []
    for path in [*SYSTEM_PATHS, *sorted(needed, key=len)]:
        exposed += _expose(path, root, flags=MS_RDONLY | MS_NOSUID | MS_NODEV)
    for device in DEVICES:
        exposed += _expose(device, root, flags=MS_RDONLY | MS_NOSUID)  # writing to a device is still allowed
    os.makedirs(root + workdir, mode=0o755, exist_ok=True)
    os.symlink(workdir, root + "/dev/shm")
    _mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    return root, exposed


def _expose(path: str, root: str, flags: int) -> list[str]:
    """Make host ``path`` appear at the same place under ``root``: symlinks are copied (and their target
    exposed), files and folders bind-mounted with ``flags``. Returns the host paths bound."""
    target = root + path
    if not os.path.lexists(path) or os.path.lexists(target):  # missing, or inside something already bound
        return []
    if not _is_under(os.path.realpath(os.path.dirname(target)), root):  # under an absolute symlink we copied
        return []
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    if os.path.islink(path):
        os.symlink(os.readlink(path), target)
        return _expose(os.path.realpath(path), root, flags)
    if os.path.isdir(path):
        os.mkdir(target, 0o755)
    else:
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
    _mount(path, target, None, MS_BIND)
    _mount(None, target, None, MS_REMOUNT | MS_BIND | flags)
    return [path]


def _is_under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    encode = lambda s: None if s is None else s.encode()  # noqa: E731
    if libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source or fstype} on {target} failed: {os.strerror(errno)}")


def _mount_workdir(isolation: dict, limits: dict) -> tuple[str, str]:
    """A fresh, empty working directory for one snippet: ``(path in the worker, path the snippet sees)``.

    In the view it is a new tmpfs on the view's workdir (``/tmp`` unless the interpreter lives there) owned by the sandbox user (size ``4 x file_size_mb``,
    at most 10000 files); elsewhere a new temporary directory.
    """
    if isolation["view_root"] is None:
        workdir = tempfile.mkdtemp(prefix="spear-sandbox-")
        return workdir, workdir
    uid, workdir = isolation["sandbox_uid"], isolation["view_workdir"]
    host_path = isolation["view_root"] + workdir
    size_mb = 4 * int(limits["file_size_mb"])
    _mount("spear-work", host_path, "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={size_mb}m,nr_inodes=10000,mode=0700,uid={uid},gid={uid}")
    return host_path, workdir


def _remove_workdir(host_path: str, isolation: dict) -> None:
    if isolation["view_root"] is None:
        shutil.rmtree(host_path, ignore_errors=True)
    elif ctypes.CDLL(None).umount2(host_path.encode(), MNT_DETACH) != 0:
        raise OSError(f"could not unmount the snippet's working directory {host_path}")


# --------------------------------------------------------------------------------------- one snippet
def run_snippet(source: str, limits: dict, isolation: dict, cgroup=None) -> dict:
    """Run ``source`` in a fresh child; return status, returncode, signal, stdout, stderr, duration_s.

    ``status`` is ``"finished"`` (the child exited or died by a signal) or ``"timeout"`` (killed at the
    wall-clock limit).
    """
    uid = isolation["sandbox_uid"]
    oom_kills_before = 0
    if cgroup is not None:
        cgroup.set_limits(int(limits["memory_mb"]), int(limits["max_processes"]))
        oom_kills_before = cgroup.oom_kills()
    host_workdir, workdir = _mount_workdir(isolation, limits)
    try:
        with open(os.path.join(host_workdir, "main.py"), "w", encoding="utf-8") as f:
            f.write(source)
        if uid is not None:
            for path in (host_workdir, f.name):
                os.chown(path, uid, uid)
        os.chmod(host_workdir, 0o700)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:  # ------------------------------------------------------------ child
            try:
                os.close(out_r)
                os.close(err_r)
                _reseed_random()
                _become_sandboxed(workdir, out_w, err_w, limits, isolation, cgroup)
                code = _run_main(os.path.join(workdir, "main.py"))
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
        outcome = _supervise(pid, out_r, err_r, start + float(limits["timeout_s"]), limits, isolation,
                             cgroup, oom_kills_before)
        outcome["duration_s"] = round(time.monotonic() - start, 4)
        return outcome
    finally:  # also when a step above failed: the next call must find no process of this one
        if cgroup is not None:
            cgroup.kill_call()
        _reap_orphans(time.monotonic() + 2.0)
        _remove_workdir(host_workdir, isolation)


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


def _reseed_random() -> None:
    """Child side: fresh random streams, as a new interpreter has. The stdlib's ``random`` reseeds itself
    at fork; numpy's global generator and sympy's own (``randprime``, ``random_poly``...) are reseeded
    from the OS here, or every call would repeat the worker's streams."""
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()
    sympy_random = sys.modules.get("sympy.core.random")
    if sympy_random is not None:
        sympy_random.seed()


def _become_sandboxed(workdir: str, out_w: int, err_w: int, limits: dict, isolation: dict, cgroup) -> None:
    """Child side: OOM shield dropped, session, fds, environment, filesystem view, user id, rlimits.
    Raises if a step fails."""
    if cgroup is not None:
        cgroups.unprotect_child()
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
    if isolation["view_root"] is not None:
        os.chroot(isolation["view_root"])
    os.chdir(workdir)
    uid = isolation["sandbox_uid"]
    mem, nproc = cgroups.process_rlimits(isolation["cap"]["mode"], int(limits["memory_mb"]),
                                         int(limits["max_processes"]))
    if uid is not None:
        _switch_user(uid)
    else:  # RLIMIT_NPROC counts all processes of our (shared) user: allow ours plus the cap
        nproc += _processes_of_user(os.getuid())
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # dies with the worker
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


def _switch_user(uid: int) -> None:
    """Drop root for ``uid`` with no capabilities left, and forbid regaining any (``no_new_privs``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise OSError("could not switch to the sandbox user id")
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    header, data = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0), (ctypes.c_uint32 * 6)()
    if libc.capget(header, data) != 0 or any(data):
        raise OSError("capabilities survived the switch to the sandbox user id")


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


def _supervise(pid: int, out_r: int, err_r: int, deadline: float, limits: dict, isolation: dict,
               cgroup=None, oom_kills_before: int = 0) -> dict:
    """Collect the child's output (head and tail kept, ``max_output_bytes`` each) until it ends, the
    deadline passes or the kernel kills one of its processes at the call's memory cap; then kill what
    is left of it."""
    cap = int(limits["max_output_bytes"])
    captures = {out_r: _Capture(cap), err_r: _Capture(cap)}
    streams = set(captures)
    status, wait_status = "finished", None
    drain_until = None
    over_memory, next_oom_check = False, time.monotonic() + OOM_CHECK_S
    while streams or wait_status is None:
        now = time.monotonic()
        if cgroup is not None and not over_memory and now >= next_oom_check:
            next_oom_check = now + OOM_CHECK_S  # reading the counter costs ~0.5 ms: not every loop
            if cgroup.oom_kills() > oom_kills_before:
                over_memory = True  # one process was killed: stop the whole call
                _kill_everything(pid, isolation, cgroup)
                cgroup.kill_call()
        if wait_status is None:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                wait_status = st
                _kill_everything(pid, isolation, cgroup)  # leftovers may hold the pipes open
                drain_until = now + 1.0
            elif now >= deadline:
                status = "timeout"
                _kill_everything(pid, isolation, cgroup)
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
    stderr = captures[err_r].text()
    if over_memory or (cgroup is not None and cgroup.oom_kills() > oom_kills_before):
        over_memory, sig = True, None
        stderr = stderr.rstrip("\n") + "\n" + MEMORY_CAP_MESSAGE.format(memory_mb=limits["memory_mb"]) + "\n"
    return {
        "status": status,
        "returncode": returncode,
        "signal": None if status == "timeout" else sig,
        "stdout": captures[out_r].text(),
        "stderr": stderr.lstrip("\n"),
        "memory_exceeded": over_memory,
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


def _kill_everything(pid: int, isolation: dict, cgroup=None) -> None:
    """SIGKILL the child's process group and every process of the call: those in the worker's cgroup
    (no process can leave it), else, as root, every process of the sandbox user (from a forked helper,
    which a cgroup full of a fork bomb's processes would not allow)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if cgroup is not None:
        cgroup.kill_call()
        return
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
