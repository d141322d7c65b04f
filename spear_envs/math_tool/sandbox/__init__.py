"""Local Python sandbox for the math tool: a plain one-process-per-call executor and a pre-started pool."""

from spear_envs.math_tool.sandbox.executor import (
    PREAMBLE,
    CodeExecutor,
    ExecutionResult,
    Isolation,
    SandboxError,
    SandboxLimits,
    SubprocessExecutor,
    build_source,
    extract_code,
    namespaces_available,
)
from spear_envs.math_tool.sandbox import cgroups
from spear_envs.math_tool.sandbox.pool import SandboxPool, shared_pool

__all__ = [
    "PREAMBLE", "CodeExecutor", "ExecutionResult", "Isolation", "SandboxError", "SandboxLimits",
    "SandboxPool", "SubprocessExecutor", "build_source", "cgroups", "extract_code", "namespaces_available",
    "shared_pool",
]
