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

register_text_env(
    "spear/WebShop-v0",
    "spear_envs.webshop.env:WebShopEnv",
    max_episode_steps=15,
    version="1",
    task_source="generated 1k-product catalog (zero downloads); real upstream files via data_dir=",
    description="Web shopping: search, open items, pick options and buy; faithful upstream reward "
    "(10 when the purchase scores 1.0).",
)

import spear_envs.math_tool.prompt  # noqa: E402,F401  (registers the math prompt builder; light)

register_text_env(
    "spear/MathTool-v0",
    "spear_envs.math_tool.env:MathToolEnv",
    max_episode_steps=8,
    version="1",
    task_source="seeded generator of integer-answer problems (5 families, 3 levels, disjoint train/eval); "
    "AIME / DAPO-Math jsonl or parquet via problems_path=",
    description="Competition math with a sandboxed Python tool (hermes <tool_call>); +1/-1 on the final "
    "\\boxed{} answer (math-verify equivalence, or strict exact string).",
)

register_text_env(
    "spear/ALFWorld-v0",
    "spear_envs.alfworld.env:ALFWorldEnv",
    max_episode_steps=50,
    version="1-gen1",
    task_source="generated games on the real ALFWorld/TextWorld engine (6 task types; splits train / "
    "eval_in_distribution / eval_out_of_distribution); real json_2.1.1 games via data_dir= or SPEAR_ALFWORLD_DATA",
    description="ALFWorld text household tasks (real engine, byte-identical fast path); reward 10 on the "
    "winning step; optional planner/handcoded expert actions in info.",
)
