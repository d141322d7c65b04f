"""Hostile code in the real sandbox: each attack is contained, reported, and the next call works."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
import uuid
from pathlib import Path

import pytest

from spear_envs.math_tool.sandbox import SandboxLimits, SandboxPool, namespaces_available
from spear_envs.math_tool.tool_output import ERROR_HINT, format_tool_output

TIMEOUT_S = 2.0
isolated = pytest.mark.skipif(not namespaces_available(), reason="needs root and unshare (full isolation)")


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(1, SandboxLimits(timeout_s=TIMEOUT_S, memory_mb=1024)) as p:
        yield p


def run(pool: SandboxPool, code: str) -> str:
    """Run hostile code, then check the sandbox still answers; return the hostile call's observation."""
    observation = format_tool_output(pool.run(code), TIMEOUT_S)
    assert format_tool_output(pool.run("print(6 * 7)"), TIMEOUT_S) == "42"
    return observation


def live_processes_of(uid: int) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        try:
            status = Path(f"/proc/{name}/status").read_text() if name.isdigit() else ""
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields and int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith("Z"):
            pids.append(int(name))
    return pids


def test_infinite_loop_times_out():
    with SandboxPool(1, SandboxLimits(timeout_s=TIMEOUT_S)) as p:
        start = time.monotonic()
        result = p.run("while True:\n    pass")
        assert result.status == "timeout" and time.monotonic() - start < TIMEOUT_S + 5
        assert "timed out after 2 seconds" in format_tool_output(result, TIMEOUT_S)
        assert p.run("print('alive')").stdout == "alive\n"


def test_sleeping_code_is_killed_at_the_wall_clock_limit(pool):
    assert "timed out" in run(pool, "import time\ntime.sleep(100)")


@isolated
def test_fork_bomb_is_capped_and_fully_killed(pool):
    observation = run(pool, "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass")
    assert "timed out" in observation
    uid = pool.isolation.sandbox_uid
    assert live_processes_of(uid) == []
    # the process cap was back to normal: a subprocess can be started again
    assert run(pool, "import subprocess\nprint(subprocess.run(['echo', 'hi'], capture_output=True).stdout)") \
        == "b'hi\\n'"


def test_escaped_daemon_does_not_outlive_its_call(pool):
    code = "import subprocess\nsubprocess.Popen(['sleep', '300'], start_new_session=True)\nprint('started')"
    assert run(pool, code) == "started"
    if pool.isolation.sandbox_uid is not None:
        assert live_processes_of(pool.isolation.sandbox_uid) == []


def test_memory_bomb_hits_the_cap(pool):
    assert run(pool, "x = bytearray(4 * 1024**3)").endswith("MemoryError\n" + ERROR_HINT)
    growing = "chunks = []\nwhile True:\n    chunks.append(np.empty(25 * 1024**2))"  # 200 MB, untouched
    assert "MemoryError" in run(pool, growing)


#: a parent and three children of 600 MB each: 2.4 GB together, each under the 1024 MB per-process cap
MULTI_PROCESS_HOG = """
import os, time
children = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        block = bytearray(600 * 1024**2)
        time.sleep(60)
        os._exit(0)
    children.append(pid)
block = bytearray(600 * 1024**2)
for pid in children:
    os.waitpid(pid, 0)
print("all of it fitted")
"""


@pytest.mark.parametrize("children, mb", [(3, 600), (12, 100)])  # few big ones; many smaller than the worker
def test_processes_together_cannot_exceed_the_memory_cap(children, mb):
    code = MULTI_PROCESS_HOG.replace("range(3)", f"range({children})").replace("600 *", f"{mb} *")
    with SandboxPool(1, SandboxLimits(timeout_s=45, memory_mb=1024)) as p:  # time to allocate on a busy box
        worker = p._workers[0]
        result = p.run(code)
        assert result.status == "finished" and "all of it fitted" not in result.stdout
        if p.isolation.memory_cap == "rlimit":  # the budget is split: forking or allocating fails
            assert "BlockingIOError" in result.stderr or "MemoryError" in result.stderr
        else:  # the call's cgroup: the kernel kills at 1024 MB in all and the whole call is stopped
            assert result.memory_exceeded
            assert "exceeded the sandbox's memory cap (1024 MB)" in format_tool_output(result, 45)
        assert run(p, "print('next call')") == "next call"
        assert p._workers[0] is worker  # the OOM killer took the call's processes, never the worker
        if p.isolation.sandbox_uid is not None:
            assert live_processes_of(p.isolation.sandbox_uid) == []


def test_lone_surrogate_is_a_syntax_error_not_a_tool_failure(pool):
    observation = run(pool, "print('\ud800')")
    assert observation.startswith("SyntaxError") and "lone surrogate" in observation
    assert observation.endswith(ERROR_HINT)
    assert run(pool, "print('\\ud800 escaped is fine')") == "\\ud800 escaped is fine"


def test_gigantic_output_is_capped_and_cut_in_the_middle(pool):
    observation = run(pool, "print('a' * 10**8 + 'z')")
    assert len(observation) <= 16384
    assert observation.startswith("aaaa") and observation.endswith("z") and "truncated" in observation
    assert "timed out" in run(pool, "while True:\n    print('y' * 1000)")


@isolated
def test_no_network_even_to_loopback(pool):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    try:
        observation = run(pool, f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)")
        assert "Network is unreachable" in observation and observation.endswith(ERROR_HINT)
        with pytest.raises(socket.timeout):
            server.accept()  # nothing got through
    finally:
        server.close()


REFUSED = ("PermissionError", "FileNotFoundError", "Read-only file system")
PROJECT_ROOT = Path(__file__).resolve().parents[3]


def assert_refused(observation: str) -> None:
    assert any(reason in observation for reason in REFUSED), observation
    assert observation.endswith(ERROR_HINT)


@isolated
def test_cannot_write_outside_its_directory():
    targets = [Path(__file__).with_name(f"_sandbox_probe_{uuid.uuid4().hex}.txt"),
               Path(f"/etc/spear_probe_{uuid.uuid4().hex}"), Path(f"/spear_probe_{uuid.uuid4().hex}"),
               Path(sys.prefix) / f"spear_probe_{uuid.uuid4().hex}"]
    with SandboxPool(1, SandboxLimits(timeout_s=TIMEOUT_S)) as p:
        for target in targets:
            assert_refused(run(p, f"open({str(target)!r}, 'w').write('owned')"))
            assert not target.exists()
        # the sandbox's temp dir (/tmp, or /sandbox-tmp when the venv lives under /tmp) is the call's own
        # working directory, not the host's /tmp
        name = f"spear_probe_{uuid.uuid4().hex}"
        code = (f"import os, tempfile; open(os.path.join(tempfile.gettempdir(), {name!r}), 'w').write('x'); "
                "print(sorted(os.listdir('.')))")
        assert run(p, code) == f"['main.py', '{name}']"
        assert not os.path.exists(f"/tmp/{name}")
        code = f"import os, tempfile; print(os.path.exists(os.path.join(tempfile.gettempdir(), {name!r})))"
        assert run(p, code) == "False"  # gone next call
        assert run(p, "import os; print(sorted(os.listdir('.')))") == "['main.py']"  # a fresh directory per call


@isolated
def test_cannot_read_outside_the_interpreter_and_its_directory(pool, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("s3cret")
    outside.chmod(0o644)  # world-readable: it must be invisible, not merely forbidden
    root_only = Path(__file__).with_name(f"_secret_{uuid.uuid4().hex}.txt")  # inside the project tree
    root_only.write_text("s3cret")
    root_only.chmod(0o600)
    try:
        for path in ["/etc/shadow", PROJECT_ROOT / "pyproject.toml", outside, root_only]:
            observation = run(pool, f"print(open({str(path)!r}).read())")
            assert_refused(observation)
            assert "s3cret" not in observation and "[project]" not in observation
        # the view holds the interpreter, read-only, and nothing of the project beside it
        assert run(pool, f"import os; print(os.path.isdir({str(PROJECT_ROOT)!r}) and "
                         f"'pyproject.toml' in os.listdir({str(PROJECT_ROOT)!r}))") == "False"
    finally:
        root_only.unlink()
    assert set(pool.isolation.exposed) >= {os.path.abspath(sys.base_prefix)}
    assert not any(path in pool.isolation.exposed for path in ("/", "/etc", "/root", "/home", str(PROJECT_ROOT)))


def test_signals_to_the_parent_do_not_hurt_it(pool):
    me = os.getpid()
    observation = run(pool, "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint('sent')")
    if pool.isolation.sandbox_uid is not None:
        assert "PermissionError" in observation
    observation = run(pool, f"import os, signal\nos.kill({me}, signal.SIGTERM)\nprint('sent')")
    assert os.getpid() == me  # we are still here
    if pool.isolation.sandbox_uid is not None:
        assert "PermissionError" in observation


def test_os_exit_and_sys_exit(pool):
    assert run(pool, "import os, sys\nprint('bye'); sys.stdout.flush()\nos._exit(3)") == "bye"
    assert run(pool, "import os\nos._exit(0)").startswith("Empty stdout")
    assert run(pool, "raise SystemExit('stopping here')") == "stopping here\n" + ERROR_HINT


def test_segfault_via_ctypes_is_reported(pool):
    observation = run(pool, "import ctypes\nctypes.string_at(0)")
    assert observation == "Process killed by signal SIGSEGV.\n" + ERROR_HINT


def test_deep_recursion(pool):
    assert "RecursionError" in run(pool, "def f(n):\n    return f(n + 1)\nf(0)")
    deeper = "import sys\nsys.setrecursionlimit(10**7)\ndef f(n):\n    return f(n + 1)\nf(0)"
    observation = run(pool, deeper)
    assert "timed out" in observation or observation.endswith(ERROR_HINT)


def test_a_killed_worker_is_replaced():
    with SandboxPool(1, SandboxLimits(timeout_s=TIMEOUT_S)) as p:
        worker = p._workers[0]
        assert p.run("print(1)").stdout == "1\n"
        os.killpg(worker._proc.pid, signal.SIGKILL)
        assert p.run("print(2)").status == "error"
        assert p.run("print(3)").stdout == "3\n" and p._workers[0] is not worker
