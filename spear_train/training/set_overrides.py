"""``--set key=value`` items as a config layer.

Each item sets one config key; the value is read as a YAML scalar (or flow list/mapping), as the same
key in a YAML config file would be, and the same validation applies afterwards
(:func:`spear_train.training.run_config.apply_overrides`, which names a bad key). One difference: an
unquoted number in exponent form (``3e-4``), which PyYAML (YAML 1.1) reads as text, is read as the
number (YAML 1.2's reading), since on a command line it can mean nothing else; quoted (``'"3e-4"'``)
it stays text and is refused with the same hint as in a file. Dotted keys reach into the mapping fields::

    --set lr=3e-4 --set group_size=8        ->  {"lr": 0.0003, "group_size": 8}
    --set algorithm.clip_ratio_high=0.3     ->  {"algorithm": {"clip_ratio_high": 0.3}}
    --set env_kwargs.split=eval             ->  {"env_kwargs": {"split": "eval"}}
    --set seeds=[0,1,2]                     ->  {"seeds": [0, 1, 2]}

Later items win over earlier ones for the same key.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from spear_train.config_error import ConfigError

#: RunConfig fields that are mappings, so a dotted key ``field.sub`` may set one entry of them
MAPPING_KEYS = ("algorithm", "env_kwargs", "eval_env_kwargs")
#: numbers in exponent form (``1e-4``, ``+2E5``, ``2.5e-3``); PyYAML reads those without a dot as text
_EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def parse_set_items(items: list[str]) -> dict[str, Any]:
    """``["a=1", "algorithm.b=x"]`` -> ``{"a": 1, "algorithm": {"b": "x"}}``.

    Raises :class:`ConfigError` naming the item when it has no ``=``, an empty key, a dotted key on a
    field that is not a mapping, more than one dot, or a value that is not valid YAML. Unknown keys and
    mistyped values are left to :func:`~spear_train.training.run_config.apply_overrides` (which names them).
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE (e.g. --set lr=0.0003)")
        value = _yaml_value(item, text)
        head, dot, sub = key.partition(".")
        if not dot:
            out[key] = value
            continue
        if head not in MAPPING_KEYS:
            raise ConfigError(f"--set {item!r}: {head!r} is not a mapping; dotted keys apply only to "
                              f"{', '.join(MAPPING_KEYS)}")
        if not sub or "." in sub:
            raise ConfigError(f"--set {item!r}: expected {head}.NAME=VALUE with one dot")
        current = out.get(head)
        out[head] = {**(current if isinstance(current, dict) else {}), sub: value}
    return out


def _yaml_value(item: str, text: str) -> Any:
    if _EXPONENT_NUMBER.fullmatch(text.strip()):
        return float(text)
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as exc:
        reason = str(exc).splitlines()[0]
        raise ConfigError(f"--set {item!r}: the value is not valid YAML ({reason})") from None
