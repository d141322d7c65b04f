"""The run configuration of ``spear-bench run``: one dataclass, resolved from four layers.

Precedence, lowest first: the algorithm preset (its own config dataclass, from
:mod:`spear_train.algorithms`) < the env defaults of the chosen scale (``laptop`` or ``paper``) <
the YAML file < ``--set key=value`` items < dedicated command-line flags (``--steps``, ``--lr``, ...).
The env defaults of each scale are :mod:`spear_train.training.scales`; files are read by
:mod:`spear_train.training.config_file`. An unknown key or a value of the wrong type or range (numbers
must be finite) is a :class:`~spear_train.config_error.ConfigError` that names the key; a number YAML
read as text (``1e-4`` without a dot) gets a hint. What needs the envs, the algorithm preset or the disk
(env kwargs, the ``algorithm`` overrides, ``out``, schedules that outlast the run) is checked by
:func:`spear_train.training.config_check.check_run_config`, which the CLI runs before ``--print-config``
or training. The resolved config is saved as
``config.yaml`` in the run directory and reloads to the same values.

YAML layout: top-level keys are :class:`RunConfig` fields; the optional ``algorithm:`` mapping
overrides fields of the preset's algorithm config. The mappings ``algorithm``, ``env_kwargs`` and
``eval_env_kwargs`` update the lower layers key by key instead of replacing them::

    steps: 40
    group_size: 8
    algorithm:
      clip_ratio_high: 0.28
    eval_env_kwargs:
      split: eval_out_of_distribution
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from spear_envs.agent_io.prompts import PROMPT_FORMATS
from spear_train.config_error import ConfigError
from spear_train.training.config_file import read_yaml
from spear_train.training.scales import SCALES, scale_defaults

ENV_IDS = {"alfworld": "spear/ALFWorld-v0", "webshop": "spear/WebShop-v0", "math": "spear/MathTool-v0"}


@dataclass
class RunConfig:
    """Everything a training run needs besides the algorithm's own knobs (``algorithm`` holds those).

    Units: ``steps`` are training steps (one rollout + update each); token limits are in tokens of the
    policy's tokenizer; ``lr`` is AdamW's learning rate (constant). A resolved config takes the values
    its scale sets (steps, batch sizes, turns, token limits, lr, evaluation, splits) from
    :data:`spear_train.training.scales.ENV_DEFAULTS`; the defaults below are what a ``RunConfig`` built
    directly starts from, and the values no scale sets (AdamW's other knobs, temperatures, checkpoints).
    """

    env: str = "alfworld"  #: alfworld | webshop | math, or a registered env id
    algo: str = "spear"  #: preset name (see ``spear-bench run --help``)
    model: str = ""  #: built-in model name or checkpoint path; "" = the env's shipped tiny policy
    scale: str = "laptop"  #: which env defaults apply: laptop (CPU budget) or paper (the paper's settings)
    steps: int = 20
    seeds: list[int] = field(default_factory=lambda: [0])
    out: str = "runs"  #: parent folder; each seed writes <out>/<algo>-<env>-seed<S>/
    device: str = "auto"  #: auto | cpu | cuda
    dtype: str = "float32"  #: float32 | bfloat16
    env_workers: int = 0  #: 0 = envs step in-process; N > 0 = N Ray env workers
    ray_address: str = ""  #: join this Ray cluster for the env workers ("" = start Ray locally)
    # rollout
    groups_per_step: int = 4  #: B: task instances per step
    group_size: int = 4  #: n: rollouts per task instance
    max_turns: int = 30  #: env steps per episode
    history_length: int = 2  #: (observation, action) pairs in a ``window`` prompt
    prompt_format: str = ""  #: "" = the env's default | window | chat (docs/rollouts.md, 'Prompt formats')
    max_prompt_tokens: int = 1024  #: samples with longer prompts are left out of the update (counted)
    max_response_tokens: int = 24
    train_temperature: float = 1.0
    train_turns_per_episode: int = 0  #: turns of each trajectory trained on (random subset); 0 = all
    env_kwargs: dict = field(default_factory=dict)  #: constructor kwargs of the training envs
    env_imports: list[str] = field(default_factory=list)  #: modules that register envs outside spear_envs
    task_family: str = ""  #: alfworld | webshop | math: whose preset settings apply ("" = from env)
    constrained_decoding: bool = False  #: sample only admissible actions (agent envs that list them)
    decode_backend: str = "auto"  #: auto (fast decoder where supported) | fast | hf (transformers' generate)
    # optimisation
    lr: float = 1e-5
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    ppo_epochs: int = 1  #: passes over each step's on-policy samples (the reference: 1)
    mini_batch_size: int = 64  #: samples per optimiser step
    micro_batch_size: int = 16  #: samples per forward/backward (gradient accumulation inside a mini-batch)
    gradient_checkpointing: bool = False
    # evaluation, checkpoints, logs
    eval_every: int = 10  #: steps between evaluations (plus step 0 and the last step)
    eval_episodes: int = 100
    eval_temperature: float = 0.4
    eval_env_kwargs: dict = field(default_factory=dict)  #: kwargs selecting the held-out split (over env_kwargs)
    eval_batch: int = 32  #: evaluation episodes run side by side
    checkpoint_every: int = 5
    keep_checkpoints: int = 2
    log_mode: str = "bar"  #: bar | quiet | json
    algorithm: dict = field(default_factory=dict)  #: overrides of the preset's algorithm config fields

    @property
    def env_id(self) -> str:
        return ENV_IDS.get(self.env, self.env)

    @property
    def env_name(self) -> str:
        return next((k for k, v in ENV_IDS.items() if v == self.env_id), self.env_id.split("/")[-1].lower())

    @property
    def family(self) -> str:
        """Which env's preset settings apply: alfworld, webshop or math."""
        return self.task_family or self.env_name

    def validate(self) -> "RunConfig":
        """Range checks beyond types; raises :class:`ConfigError` naming the field, its value and the rule."""
        def refuse(name: str, rule: str) -> ConfigError:
            value = getattr(self, name)
            return ConfigError(f"{name} must {rule}, got {value!r}", name, value)

        for name, value in dataclasses.asdict(self).items():
            if isinstance(value, float) and not math.isfinite(value):
                raise refuse(name, "be a finite number")
        positive = ("steps", "ppo_epochs", "groups_per_step", "group_size", "max_turns", "max_prompt_tokens",
                    "max_response_tokens", "mini_batch_size", "micro_batch_size", "eval_every",
                    "checkpoint_every", "keep_checkpoints", "eval_batch", "eval_episodes")
        for name in positive:
            if getattr(self, name) < 1:
                raise refuse(name, "be >= 1")
        for name in ("env_workers", "train_turns_per_episode", "history_length", "weight_decay"):
            if getattr(self, name) < 0:
                raise refuse(name, "be >= 0")
        for name in ("lr", "grad_clip", "train_temperature", "eval_temperature"):
            if not getattr(self, name) > 0:
                raise refuse(name, "be > 0")
        choices = {"scale": SCALES, "device": ("auto", "cpu", "cuda"), "dtype": ("float32", "bfloat16"),
                   "log_mode": ("bar", "quiet", "json"), "decode_backend": ("auto", "fast", "hf")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise refuse(name, f"be one of {list(allowed)}")
        if self.prompt_format and self.prompt_format not in PROMPT_FORMATS:
            raise refuse("prompt_format", f"be \"\" (the env's default) or one of {list(PROMPT_FORMATS)}")
        if self.prompt_format and self.env_id in ENV_IDS.values():
            from spear_envs.agent_io.prompts import prompt_formats_for

            if self.prompt_format not in (formats := prompt_formats_for(self.env_id)):
                raise refuse("prompt_format", f"be \"\" or one of {formats} for {self.env_id}")
        if self.env not in ENV_IDS and "/" not in self.env:
            raise refuse("env", f"be one of {sorted(ENV_IDS)} or a registered env id")
        if self.family not in ENV_IDS:
            raise ConfigError(f"task_family must be one of {sorted(ENV_IDS)} for env {self.env!r}, "
                              f"got {self.task_family!r}")
        if not self.seeds:
            raise ConfigError("seeds must list at least one seed", "seeds", self.seeds)
        if len(self.adam_betas) != 2 or not all(0 <= b < 1 for b in self.adam_betas):
            raise refuse("adam_betas", "be two numbers in [0, 1)")
        if self.ray_address and self.env_workers < 1:
            raise ConfigError(f"ray_address ({self.ray_address!r}) needs env_workers >= 1: only Ray env "
                              "workers join a cluster")
        if self.micro_batch_size > self.mini_batch_size:
            raise ConfigError(f"micro_batch_size ({self.micro_batch_size}) must be <= mini_batch_size "
                              f"({self.mini_batch_size})")
        return self


_SELECTORS = ("scale", "env", "task_family", "prompt_format")  # decide which env defaults apply
_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
_MERGED = ("algorithm", "env_kwargs", "eval_env_kwargs")  # mapping fields: a later layer updates, not replaces


def _type_ok(value: Any, annotation: Any) -> bool:
    hint = typing.get_type_hints(RunConfig)[annotation] if isinstance(annotation, str) else annotation
    origin = typing.get_origin(hint)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint in (str, bool, dict):
        return isinstance(value, hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(hint))
    return isinstance(value, hint)


def apply_overrides(cfg: RunConfig, overrides: dict[str, Any], source: str) -> RunConfig:
    """A copy of ``cfg`` with ``overrides`` applied; unknown keys and mistyped values raise
    :class:`ConfigError` naming the key and ``source`` (e.g. ``"config.yaml"`` or ``"--steps"``)."""
    hints = typing.get_type_hints(RunConfig)
    changes = {}
    for key, value in overrides.items():
        if key not in _FIELDS:
            close = [k for k in _FIELDS if k.startswith(str(key)[:3])]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"{source}: unknown config key {key!r}{hint}", key, value)
        if hints[key] is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not _type_ok(value, hints[key]):
            raise ConfigError(f"{source}: {key} must be {_type_name(hints[key])}, got {value!r}"
                              f"{_number_as_text_hint(value, hints[key])}", key, value)
        changes[key] = value
    for key in _MERGED:
        if key in changes:
            changes[key] = {**getattr(cfg, key), **changes[key]}
    return dataclasses.replace(cfg, **changes)


def _number_as_text_hint(value: Any, hint: Any) -> str:
    """A hint when YAML read a number as a string (YAML 1.1 wants a dot in ``1.0e-4``)."""
    if hint is not float or not isinstance(value, str):
        return ""
    try:
        number = float(value)
    except ValueError:
        return ""
    return f" (a string: YAML reads {value} without a dot as text; write {number!r} or 1.0e-4 style)"


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def resolve_run_config(flags: dict[str, Any], yaml_path: str | Path | None = None,
                       sets: dict[str, Any] | None = None, sets_source: str = "--set") -> RunConfig:
    """Layer env defaults < YAML < ``sets`` (a mapping laid out like the YAML file: ``--set`` items
    parsed by :func:`spear_train.training.set_overrides.parse_set_items`, or the dict given to
    :func:`spear_train.train`; errors name it as ``sets_source``) < flags (``None`` flags are ignored)
    and validate the result.

    The algorithm preset itself is applied by :func:`spear_train.training.algo_adapter.algorithm_config`,
    which layers ``RunConfig.algorithm`` over the preset.
    """
    flags = {k: v for k, v in flags.items() if v is not None}
    sets = sets or {}
    file_values = read_yaml(yaml_path) if yaml_path else {}
    source = str(yaml_path) if yaml_path else "config"
    # scale and env decide which defaults apply, so read them first (later layers win).
    probe = RunConfig()
    for layer, name in ((file_values, source), (sets, sets_source), (flags, "command line")):
        probe = apply_overrides(probe, {k: layer[k] for k in _SELECTORS if k in layer}, name)
    probe.validate()
    defaults = scale_defaults(probe.scale, probe.family, own_env=probe.env_id == ENV_IDS[probe.family],
                              prompt_format=probe.prompt_format)
    cfg = apply_overrides(RunConfig(), defaults, f"{probe.scale} defaults of {probe.family}")
    cfg = apply_overrides(cfg, file_values, source)
    cfg = apply_overrides(cfg, sets, sets_source)
    cfg = apply_overrides(cfg, flags, "command line")
    return cfg.validate()


def save_run_config(cfg: RunConfig, path: str | Path, algorithm_resolved: dict[str, Any] | None = None) -> None:
    """Write the resolved config as YAML (atomically). ``algorithm_resolved`` replaces the override dict
    with the full resolved algorithm config, so the file alone reproduces the run."""
    data = dataclasses.asdict(cfg)
    if algorithm_resolved is not None:
        data["algorithm"] = algorithm_resolved
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    tmp.replace(path)


def load_run_config(path: str | Path) -> RunConfig:
    """Reload a saved ``config.yaml`` (validated like any YAML file)."""
    return apply_overrides(RunConfig(), read_yaml(path), str(path)).validate()
