"""``spear/ALFWorld-v0``: ALFWorld's text household tasks on the real TextWorld PDDL engine.

    env = gym.make("spear/ALFWorld-v0")                                   # generated games, no downloads
    env = gym.make("spear/ALFWorld-v0", split="eval_out_of_distribution")  # held-out task combinations
    env = gym.make("spear/ALFWorld-v0", data_dir="~/alfworld/json_2.1.1", split="valid_seen")  # real games
    env = gym.make("spear/ALFWorld-v0", expert="handcoded")               # info["expert_action"] each step

Episode: ``reset(seed=s)`` draws a game of the split (and, with ``shuffle_names``, the instance numbering)
from ``s``; the same seed gives the same game and transcript, so a GRPO group shares a game by sharing a
seed. ``options={"game_index": i}`` picks game ``i`` of the split instead (for exact eval sweeps). The
observation is the engine's text; a command the engine does not list answers "Nothing happens." and
changes nothing. Reward is ``win_reward`` (10) on the winning step, which terminates; the env truncates
after ``max_steps`` (50).

Info keys (besides the contract's ``task``, ``task_id``, ``admissible_actions``, ``won``, ``action_valid``):
``task_type`` (one of the six), ``game_id`` (same as ``task_id``) and, with ``expert=...``,
``expert_action``. ``admissible_actions`` is the engine's sorted list without "help";
``action_valid`` says whether the engine listed the command (help included).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, ClassVar

from spear_envs.alfworld import game_generator as gen
from spear_envs.alfworld.engine import AlfredEngine
from spear_envs.alfworld.experts import EXPERTS, HandcodedExpert, PlannerExpert
from spear_envs.alfworld.real_data import find_real_games, load_real_game, resolve_data_dir
from spear_envs.alfworld.reward import DEFAULT_WIN_REWARD, alfworld_reward, check_win_reward
from spear_envs.core.text_env import TextEnv

__all__ = ["ALFWorldEnv", "DEFAULT_NUM_GAMES"]

#: Games per generated split when ``num_games`` is not given (generated lazily, cached on disk).
DEFAULT_NUM_GAMES = {"train": 1200, "eval_in_distribution": 140, "eval_out_of_distribution": 140}
_TASK_PREFIX = "Your task is to: "


class ALFWorldEnv(TextEnv):
    """ALFWorld (text) on the real engine. See the module docstring for the episode and info contract.

    Args:
        max_steps: truncate after this many steps (the registry passes 50).
        split: generated: ``train``, ``eval_in_distribution``, ``eval_out_of_distribution``; real data: a
            folder name such as ``valid_seen`` (the two eval names map to ``valid_seen``/``valid_unseen``).
        scene_size: generated scenes: ``small`` (8-14 receptacles), ``medium`` (18-26) or ``large``
            (30-40, ALFWorld-sized).
        task_types: restrict to some of the six task types (default: all).
        num_games: size of the generated split (default :data:`DEFAULT_NUM_GAMES`); games are generated on
            first use and cached under the spear-bench cache dir.
        data_dir: a ``json_2.1.1``-style folder of real games (or set ``SPEAR_ALFWORLD_DATA``).
        expert: ``None``, ``"planner"`` or ``"handcoded"``: put that expert's next action in
            ``info["expert_action"]``.
        win_reward: reward on the winning step.
        shuffle_names: randomise instance numbering per reset (upstream's domain randomisation), seeded.
        fast_engine: use the memoised engine (byte-identical text, several times faster).
    """

    env_version: ClassVar[str] = f"1-gen{gen.GENERATOR_VERSION}"
    reset_options: ClassVar[tuple[str, ...]] = ("game_index",)

    def __init__(
        self,
        *,
        max_steps: int = 50,
        split: str = "train",
        scene_size: str = "medium",
        task_types: list[str] | tuple[str, ...] | None = None,
        num_games: int | None = None,
        data_dir: str | None = None,
        expert: str | None = None,
        win_reward: float = DEFAULT_WIN_REWARD,
        shuffle_names: bool = False,
        fast_engine: bool = True,
        max_action_length: int = 4096,
        render_mode: str | None = None,
    ):
        super().__init__(max_steps=max_steps, max_action_length=max_action_length, render_mode=render_mode)
        task_types = tuple(task_types) if task_types is not None else gen.TASK_TYPES
        unknown = [t for t in task_types if t not in gen.TASK_TYPES]
        if unknown or not task_types:
            raise ValueError(f"task_types must be a non-empty subset of {gen.TASK_TYPES}, got {list(task_types)}")
        if expert not in (None, *EXPERTS):
            raise ValueError(f"expert must be None or one of {EXPERTS}, got {expert!r}")
        self.win_reward = check_win_reward(win_reward)
        self.split, self.scene_size, self.task_types = split, scene_size, task_types
        self.expert, self.shuffle_names, self.fast_engine = expert, bool(shuffle_names), bool(fast_engine)
        self.data_dir = resolve_data_dir(data_dir)
        if self.data_dir is not None:
            self._real_games = find_real_games(self.data_dir, split, task_types)
            self.num_games = len(self._real_games)
        else:
            if split not in gen.SPLITS:
                raise ValueError(f"unknown split {split!r} for generated games; expected one of {gen.SPLITS} "
                                 f"(real splits such as 'valid_seen' need data_dir=...)")
            if scene_size not in gen.SCENE_SIZES:
                raise ValueError(f"unknown scene_size {scene_size!r}; expected one of {tuple(gen.SCENE_SIZES)}")
            self._real_games = None
            self.num_games = DEFAULT_NUM_GAMES[split] if num_games is None else num_games
            if not isinstance(self.num_games, int) or isinstance(self.num_games, bool) or self.num_games < 1:
                raise ValueError(f"num_games must be a positive int, got {num_games!r}")
        self._episode: dict[str, Any] | None = None
        self._build_engine()

    # ----------------------------------------------------------------- engine, games, expert
    def _build_engine(self) -> None:
        self._engine = AlfredEngine(fast=self.fast_engine, facts=self.expert == "handcoded")
        self._expert = {"planner": PlannerExpert, "handcoded": HandcodedExpert, None: lambda _: None}[self.expert](
            self._engine
        )
        self._games: OrderedDict[int, dict[str, Any]] = OrderedDict()

    def game_spec(self, index: int) -> gen.GameSpec:
        """Which generated game ``index`` of this split is (task types interleave, so every type appears)."""
        k = len(self.task_types)
        return gen.GameSpec(self.split, self.scene_size, self.task_types[index % k], index // k)

    def game(self, index: int) -> dict[str, Any]:
        """The game dict of ``index`` (generated or real); a few recent ones stay in memory."""
        if index in self._games:
            self._games.move_to_end(index)
            return self._games[index]
        if self._real_games is not None:
            game = load_real_game(self._real_games[index])
        else:
            game = gen.load_or_generate(self.game_spec(index))
        self._games[index] = game
        while len(self._games) > 8:
            self._games.popitem(last=False)
        return game

    def data_fingerprint(self) -> dict[str, Any]:
        if self.data_dir is not None:
            return {"source": "real", "split": self.split, "games": [g.game_id for g in self._real_games]}
        return {"source": "generated", "generator_version": gen.GENERATOR_VERSION, "split": self.split,
                "scene_size": self.scene_size, "task_types": list(self.task_types), "num_games": self.num_games}

    # ----------------------------------------------------------------- optional contract hooks
    def task_count(self) -> int:
        """The split's games: task ``i`` is game ``i`` (consecutive games cycle through the task types)."""
        return self.num_games

    def task_options(self, index: int) -> dict[str, Any]:
        return {"game_index": self._check_task_index(index)}

    def expert_action(self) -> str:
        """The expert's next action (also in ``info["expert_action"]``); needs ``expert=...``."""
        if self._expert is None or self._episode is None:
            raise NotImplementedError("ALFWorld's expert is off: build the env with expert='handcoded' (or "
                                      "'planner') and reset it")
        return self._expert_next

    # ----------------------------------------------------------------- TextEnv hooks
    def _reset(self, seed: int | None, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        index = int(self.np_random.integers(self.num_games))
        shuffle_seed = int(self.np_random.integers(2**31)) if self.shuffle_names else None
        expert_seed = int(self.np_random.integers(2**31))
        if "game_index" in options:
            index = options["game_index"]
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.num_games:
                raise ValueError(f"options['game_index'] must be an int in [0, {self.num_games}), got {index!r}")
        self._episode = {"index": index, "shuffle_seed": shuffle_seed, "expert_seed": expert_seed, "actions": []}
        state = self._start_episode()
        return state["feedback"], self._info(state, action_valid=True)

    def _start_episode(self):
        game = self.game(self._episode["index"])
        self._engine.load(game)
        state = self._engine.reset(self._episode["shuffle_seed"])
        intro = state["feedback"]
        self._task = intro.split(_TASK_PREFIX, 1)[1].strip().rstrip(".") if _TASK_PREFIX in intro else ""
        self._task_type = game["traj_data"]["task_type"]
        self._game_id = game["game_id"]
        if isinstance(self._expert, PlannerExpert):
            self._expert.reset(game.get("walkthrough") if self._episode["shuffle_seed"] is None else None)
        elif isinstance(self._expert, HandcodedExpert):
            self._expert.reset(game["traj_data"], self._episode["expert_seed"])
        return state

    def _step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        valid = action.strip() in self._engine.state["admissible_commands"]
        state = self._engine.step(action)
        self._episode["actions"].append(action)
        if self._expert is not None:
            self._expert.observe_step(action)
        won = bool(state["won"])
        return state["feedback"], alfworld_reward(won, self.win_reward), won, self._info(state, action_valid=valid)

    def _info(self, state, *, action_valid: bool) -> dict[str, Any]:
        info = {
            "task": self._task,
            "task_id": self._game_id,
            "game_id": self._game_id,
            "task_type": self._task_type,
            "admissible_actions": [a for a in state["admissible_commands"] if a != "help"],
            "won": bool(state["won"]),
            "action_valid": action_valid,
        }
        if self._expert is not None:
            info["expert_action"] = self._expert_next = self._expert.next_action()
        return info

    # ----------------------------------------------------------------- pickling
    def __getstate__(self) -> dict[str, Any]:
        """Engines hold C libraries: pickle the configuration and the episode's actions instead."""
        state = self.__dict__.copy()
        for key in ("_engine", "_expert", "_games"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild the engine; mid-episode, reload the game and replay the episode's actions."""
        self.__dict__.update(state)
        self._build_engine()
        if self._episode is not None:
            self._start_episode()
            if self._expert is not None:
                self._expert.next_action()  # the same expert calls as the original episode made
            for action in self._episode["actions"]:
                self._engine.step(action)
                if self._expert is not None:
                    self._expert.observe_step(action)
                    self._expert.next_action()
