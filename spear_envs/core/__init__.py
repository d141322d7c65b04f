"""The environment contract shared by every spear-bench env: base class, spaces, registry, recorder."""

from spear_envs.core.recorder import EpisodeRecord, EpisodeRecorder, ReplayResult, StepRecord, replay
from spear_envs.core.registry import SPEAR_ENVS, EnvInfo, register_text_env
from spear_envs.core.cache import cache_dir, cache_root
from spear_envs.core.spaces import UnicodeText
from spear_envs.core.text_env import INFO_KEYS, ActionTooLongError, ResetNeeded, TextEnv
from spear_envs.core.task_by_seed import TaskBySeed, task_option

__all__ = [
    "cache_dir", "cache_root", "INFO_KEYS", "ActionTooLongError", "ResetNeeded", "TextEnv", "UnicodeText",
    "SPEAR_ENVS", "EnvInfo", "register_text_env",
    "EpisodeRecord", "EpisodeRecorder", "ReplayResult", "StepRecord", "replay", "TaskBySeed", "task_option",
]
