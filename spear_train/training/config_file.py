"""Reading a YAML config file into a mapping, with a :class:`~spear_train.config_error.ConfigError` that
says what is wrong with the file (unreadable, not UTF-8, not YAML, too deep, not a mapping).

The keys are not checked here: :func:`spear_train.training.run_config.apply_overrides` names an unknown
key or a bad value. Used for ``--config FILE``, a run folder's saved ``config.yaml`` (resume, compare).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from spear_train.config_error import ConfigError
from spear_train.nesting import nesting_depth

#: deepest nesting of mappings/lists accepted in a config file (the real layout nests 2 levels)
MAX_YAML_DEPTH = 32


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a YAML config file into a mapping (``{}`` for an empty file); :class:`ConfigError` if it is
    unreadable, not YAML, nests more than :data:`MAX_YAML_DEPTH` levels or is not a mapping."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text ({exc.reason})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path} nests too deeply to parse; config files nest at most "
                          f"{MAX_YAML_DEPTH} levels") from None
    if nesting_depth(data, MAX_YAML_DEPTH) > MAX_YAML_DEPTH:
        raise ConfigError(f"{path} nests more than {MAX_YAML_DEPTH} levels deep; config keys nest at most 2")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys, got {type(data).__name__}")
    return data
