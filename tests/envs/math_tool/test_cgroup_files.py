"""The cgroup file protocol of the sandbox's memory cap, on fake cgroup trees (the kernel side is
exercised by the hostile suite wherever the machine offers a cgroup; this machine may offer only one
of the two versions, so both layouts are checked here against what the kernel documents)."""

from __future__ import annotations

import os
from pathlib import Path

from spear_envs.math_tool.sandbox import cgroups

V2_MOUNTINFO = ("25 30 0:22 / /sys rw,nosuid - sysfs sysfs rw\n"
                "30 25 0:26 / {root} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n")
V1_MOUNTINFO = ("35 30 0:31 / {root}/memory rw,relatime - cgroup cgroup rw,memory\n"
                "36 30 0:32 / {root}/pids rw,relatime - cgroup cgroup rw,pids\n"
                "37 30 0:33 / {root}/unified rw,relatime - cgroup2 cgroup2 rw\n")


def _fake_v2(root, subtree=""):
    root.mkdir(exist_ok=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    (root / "cgroup.subtree_control").write_text(subtree)


def test_parsing_proc_files():
    mounts = cgroups.parse_mountinfo(V1_MOUNTINFO.format(root="/sys/fs/cgroup"))
    assert mounts == [("cgroup", "/sys/fs/cgroup/memory", {"rw", "memory"}),
                      ("cgroup", "/sys/fs/cgroup/pids", {"rw", "pids"}),
                      ("cgroup2", "/sys/fs/cgroup/unified", {"rw"})]
    own = cgroups.parse_proc_cgroup("12:pids:/\n4:memory:/a/b\n1:name=systemd:/x\n0::/user.slice/s.scope\n")
    assert own == {"pids": "/", "memory": "/a/b", "name=systemd": "/x", "": "/user.slice/s.scope"}


def test_v2_enables_memory_and_pids_below_the_root_and_writes_the_limits(tmp_path):
    root = tmp_path / "cg"
    _fake_v2(root, "cpu\n")
    mounts = cgroups.parse_mountinfo(V2_MOUNTINFO.format(root=root))
    parents = cgroups._v2_parents(mounts, {"": "/user.slice"})
    assert parents == {"unified": str(root)}
    assert (root / "cgroup.subtree_control").read_text() == "+memory +pids"
    group = cgroups.SandboxCgroup({"mode": "cgroup2", "parents": parents})
    (root / f"spear-sandbox-{os.getpid()}" / "memory.swap.max").write_text("max\n")  # the kernel makes it
    group.set_limits(1024, 32)
    folder = root / f"spear-sandbox-{os.getpid()}"
    assert (folder / "memory.max").read_text() == str(1024 << 20)
    assert (folder / "memory.swap.max").read_text() == "0"
    assert (folder / "pids.max").read_text() == "33"  # the call's 32 and the worker


def test_v2_without_the_controllers_is_not_used(tmp_path):
    root = tmp_path / "cg"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu io\n")  # memory and pids bound to v1 elsewhere
    (root / "cgroup.subtree_control").write_text("")
    assert cgroups._v2_parents(cgroups.parse_mountinfo(V2_MOUNTINFO.format(root=root)), {"": "/"}) == {}


def test_v1_uses_our_own_memory_and_pids_cgroups_and_orders_the_swap_limit(tmp_path):
    for name in ("memory/a/b", "pids"):
        (tmp_path / name).mkdir(parents=True)
    mounts = cgroups.parse_mountinfo(V1_MOUNTINFO.format(root=tmp_path))
    parents = cgroups._v1_parents(mounts, {"memory": "/a/b", "pids": "/"})
    assert parents == {"memory": str(tmp_path / "memory/a/b"), "pids": str(tmp_path / "pids") + "/"}
    group = cgroups.SandboxCgroup({"mode": "cgroup1", "parents": parents})
    memory, pids = (Path(d) for d in group.dirs)
    (memory / "memory.limit_in_bytes").write_text("9223372036854771712")
    (memory / "memory.memsw.limit_in_bytes").write_text("9223372036854771712")
    (pids / "pids.max").write_text("max")
    group.set_limits(512, 4)
    assert (memory / "memory.limit_in_bytes").read_text() == str(512 << 20)
    assert (memory / "memory.memsw.limit_in_bytes").read_text() == str(512 << 20)
    assert (pids / "pids.max").read_text() == "5"
    assert not (memory / "pids.max").exists() and not (pids / "memory.limit_in_bytes").exists()


def test_stale_cgroups_of_dead_workers_are_removed(tmp_path):
    dead, alive = tmp_path / "spear-sandbox-999999999", tmp_path / f"spear-sandbox-{os.getpid()}"
    dead.mkdir()
    alive.mkdir()
    cgroups.remove_stale({"mode": "cgroup1", "parents": {"pids": str(tmp_path)}})
    assert not dead.exists() and alive.exists()
