"""ALFWorld experts: the planner's walkthrough and alfworld's handcoded expert (with the "move" fix).

Both track one episode of an :class:`~spear_envs.alfworld.engine.AlfredEngine` and answer
``next_action()``; :class:`~spear_envs.alfworld.env.ALFWorldEnv` built with ``expert="planner"`` or
``expert="handcoded"`` puts that answer in ``info["expert_action"]`` after every reset and step, whatever
action the agent actually took (the experts re-track from the real state). :class:`ExpertPolicy` turns that
into a policy, and :func:`expert_episode` rolls one episode for SFT data::

    env = gym.make("spear/ALFWorld-v0", expert="handcoded")
    steps = expert_episode(env, seed=0)   # [(observation, info, action), ...]

* **planner**: follows the game's walkthrough (the plan stored with a generated game, else a Fast
  Downward plan from reset). If the agent leaves the plan, it replans from the current state with Fast
  Downward. Omniscient and optimal: it walks straight to hidden objects.
* **handcoded**: alfworld's ``HandCodedTWAgent``, which explores from observations and PDDL facts like a
  person would (opens drawers, checks likely places). Upstream tracks placements by looking for the verb
  "put", but ALFWorld's grammar says "move X to Y", so as shipped it loses track in pick_two games
  (7/20 won). We show it the command with "move" read as "put" (:func:`tracked_command`), which is the
  fix; its random tie-breaks draw from a seeded private RNG. Real scenes can put several receptacles at one
  location, where the engine lists all their commands and no "go to" between them; the expert is kept to
  the receptacle it tracks there (see ``HandcodedExpert``). On real valid_seen this lifts its wins within
  50 steps from 131/140 to 136/140; generated scenes never co-locate receptacles, so it changes nothing there.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from alfworld.agents.expert.handcoded_expert import HandCodedAgentFailed, HandCodedAgentTimeout
from alfworld.agents.expert.handcoded_expert_tw import HandCodedTWAgent
import alfworld.gen.constants as constants

from spear_envs.alfworld.engine import AlfredEngine, scoped_random

__all__ = ["EXPERTS", "PlannerExpert", "HandcodedExpert", "ExpertPolicy", "ExpertEpisode", "expert_episode",
           "modern_command", "tracked_command"]

EXPERTS = ("planner", "handcoded")
#: What upstream's expert wrapper answers when it has nothing better (also the handcoded expert's first move).
FALLBACK_ACTION = "look"


class PlannerExpert:
    """Next action of the planner's walkthrough, replanning when the agent leaves it."""

    def __init__(self, engine: AlfredEngine):
        self.engine = engine
        self._plan: list[str] | None = None
        self._pos = 0

    def reset(self, walkthrough: list[str] | None) -> None:
        self._plan, self._pos = (list(walkthrough) if walkthrough else None), 0

    def observe_step(self, command: str) -> None:
        if self._plan is not None and self._pos < len(self._plan) and command.strip() == self._plan[self._pos]:
            self._pos += 1
        else:
            self._plan = None  # off the plan: replan lazily from the new state

    def next_action(self) -> str:
        if self.engine.state is not None and self.engine.state["won"]:
            return FALLBACK_ACTION
        if self._plan is None:
            self._plan, self._pos = self.engine.plan(), 0
        return self._plan[self._pos] if self._pos < len(self._plan) else FALLBACK_ACTION


def tracked_command(command: str) -> str:
    """The command as the handcoded expert's state tracker must see it: ``move X to Y`` -> ``put X to Y``."""
    command = command.strip()
    return "put" + command[len("move"):] if command.startswith("move ") else command


def modern_command(command: str) -> str:
    """Older ALFWorld games (json_2.1.1) say ``put X in/on Y`` where the current grammar, and the expert,
    say ``move X to Y``; map the old form to the new one (other commands are unchanged)."""
    if command.startswith("put ") and " in/on " in command:
        obj, recep = command[len("put "):].split(" in/on ", 1)
        return f"move {obj} to {recep}"
    return command


class _FixedHandCodedTWAgent(HandCodedTWAgent):
    """``HandCodedTWAgent`` whose state tracker sees ALFWorld's "move" commands as placements."""

    def reset_task(self, traj_data: dict[str, Any]) -> None:
        params = {**traj_data["pddl_params"], "task_type": traj_data["task_type"]}
        self.task_params = {k: (v.lower() if v in constants.OBJECTS else v) for k, v in params.items()}
        self.policy = self.get_task_policy(self.task_params)(self.task_params, max_steps=self.max_steps)

    def act(self, game_state, reward, done, last_action=""):
        action = self.policy.act(game_state, tracked_command(last_action))
        if action == last_action or (last_action == "look" and action not in game_state["admissible_commands"]):
            return random.choice(game_state["admissible_commands"])
        return action


class HandcodedExpert:
    """alfworld's handcoded TextWorld expert with the "move" fix; needs an engine built with ``facts=True``.

    Mirrors upstream's ``AlfredExpert`` wrapper: "look" after reset, then after each step the expert's
    answer if the engine lists it, else "look".
    """

    def __init__(self, engine: AlfredEngine, max_steps: int = 200):
        self.engine = engine
        self.max_steps = max_steps
        self._agent = _FixedHandCodedTWAgent(max_steps=max_steps)
        self._rng = random.Random(0)
        self._next = FALLBACK_ACTION
        self._alias: tuple[str, str] | None = None  # (engine command played, command the expert tracks)

    def reset(self, traj_data: dict[str, Any], seed: int) -> None:
        self._rng = random.Random(seed)
        self._agent = _FixedHandCodedTWAgent(max_steps=self.max_steps)
        self._agent.reset_task(traj_data)
        self._agent.observe(self.engine.state["feedback"])
        self._next, self._alias = FALLBACK_ACTION, None

    def observe_step(self, command: str) -> None:
        state = self.engine.state
        to_engine = {modern_command(c): c for c in state["admissible_commands"]}
        last_action = modern_command(command.strip())
        if self._alias is not None and command.strip() == self._alias[0]:
            last_action = self._alias[1]
        view = {
            "feedback": state["feedback"],
            "facts": state["facts"],
            "won": state["won"],
            "admissible_commands": self._commands_for_tracked_receptacle(list(to_engine), last_action),
        }
        try:
            with scoped_random(self._rng):
                action = self._agent.act(view, 0, state["won"], last_action)
        except (HandCodedAgentTimeout, HandCodedAgentFailed, IndexError, KeyError):
            action = FALLBACK_ACTION
        self._alias = None
        if action not in to_engine:
            self._alias = self._colocated_goto(action, to_engine)
        self._next = self._alias[0] if self._alias is not None else to_engine.get(action, FALLBACK_ACTION)

    # Real (json_2.1.1) scenes put some receptacles at one location (two shelves, a desk and its drawers).
    # The engine then lists the commands of all of them and no "go to" between them, while the expert
    # believes it is at one receptacle: it sees another one's objects as takeable there (and in pick_two
    # mistakes the object it already placed for a new one), and its "go to" a neighbour is refused. The
    # two helpers below keep the expert's view to the receptacle it tracks. Generated scenes give every
    # receptacle its own location, so neither ever changes what the expert does there.
    def _colocated_receptacles(self) -> set[str]:
        """The receptacles at the agent's location when there are several, else the empty set."""
        facts = self.engine.state["facts"]
        here = {f.names[1] for f in facts if f.name == "atlocation"}
        names = {f.names[0] for f in facts if f.name == "receptacleatlocation" and f.names[1] in here}
        return names if len(names) > 1 else set()

    def _commands_for_tracked_receptacle(self, commands: list[str], last_action: str) -> list[str]:
        """``commands`` without those ending in a co-located receptacle other than the one tracked."""
        colocated = self._colocated_receptacles()
        if not colocated:
            return commands
        tracked = last_action[len("go to "):] if last_action.startswith("go to ") else self._agent.policy.curr_recep
        others = tuple(f" {r}" for r in colocated if r != tracked)
        return [c for c in commands if not c.endswith(others)] if others else commands

    def _colocated_goto(self, action: str, to_engine: dict[str, str]) -> tuple[str, str] | None:
        """``("examine R", "go to R")`` when the expert asks to go to a receptacle R co-located with the agent
        (the engine offers no "go to R" there), else None. Examining R shows what going there would, so
        the expert plays that and its tracker is told it went to R."""
        target = action[len("go to "):] if action.startswith("go to ") else None
        examine = f"examine {target}"
        if target is None or target == self._agent.policy.curr_recep or examine not in to_engine:
            return None
        return (to_engine[examine], action) if target in self._colocated_receptacles() else None

    def next_action(self) -> str:
        return self._next


class ExpertPolicy:
    """A policy that plays ``info["expert_action"]`` (the env must be built with ``expert=...``)."""

    def act(self, observation: str, info: dict[str, Any]) -> str:
        if "expert_action" not in info:
            raise KeyError(
                "info has no 'expert_action': build the env with expert='planner' or expert='handcoded', "
                "e.g. gym.make('spear/ALFWorld-v0', expert='handcoded')"
            )
        return info["expert_action"]


@dataclass
class ExpertEpisode:
    """One expert-played episode: what the agent saw and did at each step, and how it ended."""

    steps: list[tuple[str, dict[str, Any], str]]  # (observation, info, action) before each step
    final_observation: str
    final_info: dict[str, Any]
    total_reward: float

    @property
    def won(self) -> bool:
        return bool(self.final_info["won"])


def expert_episode(env, seed: int | None = None, options: dict | None = None) -> ExpertEpisode:
    """Play one episode with :class:`ExpertPolicy` (the env needs ``expert=...``) until it ends."""
    policy = ExpertPolicy()
    observation, info = env.reset(seed=seed, options=options)
    steps, total = [], 0.0
    while True:
        action = policy.act(observation, info)
        steps.append((observation, info, action))
        observation, reward, terminated, truncated, info = env.step(action)
        total += reward
        if terminated or truncated:
            return ExpertEpisode(steps, observation, info, total)
