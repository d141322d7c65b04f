"""Resume only the run that was started: compare the new config with the run folder's ``config.yaml``.

A resumed run that silently trained on with another config (``lr: 0.5`` on a ``1e-4`` run) and then
overwrote ``config.yaml`` would leave results that no config reproduces. So ``--resume`` with a
changed config is a :class:`ConfigChangedError` naming every differing key (old -> new); with
``--allow-config-change`` it continues and the change is logged in ``metrics.jsonl`` as one line
``{"kind": "config_change", "step": S, "changes": {key: [old, new], ...}}`` at the step it resumes from.

Keys that cannot change what a run computes (:data:`HARMLESS_KEYS`) are not compared, and two spellings of
one setting by different versions (:data:`SAME_SETTING`) are equal.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

from spear_train.config_error import ConfigError
from spear_train.training.config_file import read_yaml
from spear_train.training.run_config import RunConfig

#: where the run folders live, which seeds run in this invocation, how progress is shown
HARMLESS_KEYS = frozenset({"out", "seeds", "log_mode"})
#: values that name the same setting in configs written by different versions: ``prompt_format`` was
#: ``None`` for "the env's default" before it became ``""``
SAME_SETTING = {"prompt_format": frozenset({None, ""})}


class ConfigChangedError(ConfigError):
    """``--resume`` was asked with a config that differs from the one the run was started with."""


def config_changes(saved: dict[str, Any], current: dict[str, Any], prefix: str = "") -> dict[str, list]:
    """``{dotted key: [saved value, current value]}`` for every key whose values differ (mappings are
    compared key by key; a key missing on one side counts as ``None`` there)."""
    changes: dict[str, list] = {}
    for key in sorted(set(saved) | set(current), key=str):
        if not prefix and key in HARMLESS_KEYS:
            continue
        old, new = saved.get(key), current.get(key)
        same = SAME_SETTING.get(key) if not prefix else None
        if same is not None and all(isinstance(v, (str, type(None))) and v in same for v in (old, new)):
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            changes.update(config_changes(old, new, f"{prefix}{key}."))
        elif old != new:
            changes[f"{prefix}{key}"] = [old, new]
    return changes


def check_resumed_config(config_path, cfg: RunConfig, algorithm: dict[str, Any],
                         allow_change: bool) -> dict[str, list]:
    """The changes between the saved config at ``config_path`` and ``cfg`` (+ its resolved ``algorithm``).

    Raises :class:`ConfigChangedError` when there are some and ``allow_change`` is False; returns ``{}``
    when the folder has no saved config yet (killed before the first write)."""
    if not config_path.is_file():
        return {}
    saved = read_yaml(config_path)
    # compare what would be written: the YAML round trip turns tuples into lists, ints stay ints
    current = yaml.safe_load(yaml.safe_dump({**dataclasses.asdict(cfg), "algorithm": algorithm}))
    changes = config_changes(saved, current)
    if changes and not allow_change:
        listed = "; ".join(f"{key}: {old!r} -> {new!r}" for key, (old, new) in changes.items())
        raise ConfigChangedError(
            f"--resume: the config differs from the one {config_path.parent} was started with ({listed}). "
            "Resume with the same config, or pass --allow-config-change to continue with the new one "
            "(the change is recorded in metrics.jsonl)")
    return changes


def config_change_row(step: int, changes: dict[str, list]) -> dict[str, Any]:
    """The ``metrics.jsonl`` line that records an accepted config change at ``step``."""
    return {"kind": "config_change", "step": step, "changes": changes}
