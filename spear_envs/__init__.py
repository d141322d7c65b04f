"""spear-bench environments: multi-turn text tasks behind one Gymnasium contract.

``import spear_envs`` registers every env id with Gymnasium (lazily: engines load on ``gym.make``)::

    import gymnasium as gym, spear_envs
    env = gym.make("spear/ALFWorld-v0")

Layout: ``core/`` holds the contract (base class, spaces, registry, episode recorder); ``agent_io/`` the
agent side (output parsing, prompt builders); one sub-package per environment.
"""

from spear_envs.core import SPEAR_ENVS, EpisodeRecord, EpisodeRecorder, TextEnv, register_text_env, replay

__version__ = "0.1.0"
__all__ = ["SPEAR_ENVS", "EpisodeRecord", "EpisodeRecorder", "TextEnv", "register_text_env", "replay"]

# --- environment registrations (one block per env package) ---------------------------------------
