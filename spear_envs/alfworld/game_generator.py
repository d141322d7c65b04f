"""Seeded ALFWorld games in the alfred PDDL domain, for all six task types, checked solvable by the planner.

A game is the upstream ``game.tw-pddl`` dict (``pddl_domain``, ``grammar`` with the task sentence,
``pddl_problem``, ``solvable``, ``walkthrough``) plus ``traj_data`` (``task_type`` and ``pddl_params``
as in ALFRED's ``traj_data.json``, which the handcoded expert reads) and ``game_id``. Domain, grammar,
goal blocks, task wordings and affordance tables all come from the installed ``alfworld`` package;
only the scenes (which receptacles and objects, where) are ours. Scenes follow ALFWorld's mechanics and
text exactly but not its scene statistics: numbers on generated games are a benchmark of their own.

Determinism: game ``(split, scene_size, task_type, index)`` is drawn from ``random.Random`` seeded with
that tuple and :data:`GENERATOR_VERSION`, so it is the same on every machine. Splits are disjoint by
construction: ``train`` and ``eval_in_distribution`` never use a held-out (object, receptacle) task
combination and draw from separate seed streams; ``eval_out_of_distribution`` uses only held-out ones.

Every game is checked when generated: the goal is false at reset, Fast Downward finds a plan, and
replaying that plan in the engine wins. Generated games are cached on disk under
``cache_dir("alfworld", f"games-v{GENERATOR_VERSION}")`` (one JSON file per game).
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

GENERATOR_VERSION = 1

TASK_TYPES: tuple[str, ...] = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
SPLITS: tuple[str, ...] = ("train", "eval_in_distribution", "eval_out_of_distribution")
#: Receptacle count range per scene size (real ALFWorld kitchens have 30+ receptacles).
SCENE_SIZES: dict[str, tuple[int, int]] = {"small": (8, 14), "medium": (18, 26), "large": (30, 40)}
_SPLIT_STREAM = {"train": 0, "eval_in_distribution": 1, "eval_out_of_distribution": 2}
_MAX_ATTEMPTS = 40

# Room templates: receptacle class -> (minimum, maximum) count, and the object classes that may appear.
_ROOMS: dict[str, dict[str, Any]] = {
    "kitchen": {
        "receptacles": {
            "CounterTop": (1, 3), "Cabinet": (2, 14), "Drawer": (1, 8), "Fridge": (1, 1), "Microwave": (1, 1),
            "SinkBasin": (1, 1), "StoveBurner": (1, 4), "CoffeeMachine": (0, 1), "Toaster": (0, 1),
            "DiningTable": (0, 1), "GarbageCan": (1, 1), "Shelf": (0, 3),
        },
        "objects": [
            "Apple", "Bread", "Egg", "Potato", "Tomato", "Lettuce", "Mug", "Cup", "Bowl", "Plate", "Pan", "Pot",
            "Kettle", "Knife", "ButterKnife", "Fork", "Spoon", "Spatula", "Ladle", "DishSponge", "SaltShaker",
            "PepperShaker", "SoapBottle", "WineBottle", "Glassbottle", "PaperTowel",
        ],
    },
    "bedroom": {
        "receptacles": {
            "Bed": (1, 1), "Desk": (0, 1), "Dresser": (0, 1), "SideTable": (1, 2), "Drawer": (1, 12),
            "Shelf": (0, 12), "GarbageCan": (1, 1), "LaundryHamper": (0, 1), "Safe": (0, 1), "ArmChair": (0, 1),
        },
        "objects": [
            "Book", "CellPhone", "CreditCard", "KeyChain", "Laptop", "Pillow", "Pen", "Pencil", "AlarmClock", "CD",
            "BaseballBat", "BasketBall", "TennisRacket", "Mug", "Bowl", "Vase", "Statue", "Cloth", "Watch",
        ],
    },
    "bathroom": {
        "receptacles": {
            "Toilet": (1, 1), "SinkBasin": (1, 2), "BathtubBasin": (0, 1), "Cabinet": (1, 10), "CounterTop": (1, 1),
            "Drawer": (0, 10), "Shelf": (0, 3), "GarbageCan": (1, 1), "TowelHolder": (0, 1),
            "HandTowelHolder": (0, 2), "ToiletPaperHanger": (1, 1), "Cart": (0, 1),
        },
        "objects": [
            "SoapBar", "SoapBottle", "SprayBottle", "ToiletPaper", "Candle", "Cloth", "HandTowel", "DishSponge",
            "TissueBox", "PaperTowel", "Plunger",
        ],
    },
    "livingroom": {
        "receptacles": {
            "Sofa": (1, 1), "ArmChair": (0, 2), "CoffeeTable": (1, 2), "SideTable": (1, 3), "Drawer": (0, 6),
            "Shelf": (0, 6), "TVStand": (0, 1), "Cabinet": (0, 6), "GarbageCan": (1, 1), "DiningTable": (0, 1),
            "Dresser": (0, 1), "Ottoman": (0, 1),
        },
        "objects": [
            "RemoteControl", "KeyChain", "CreditCard", "Newspaper", "Laptop", "Pillow", "Statue", "Vase", "Watch",
            "WateringCan", "TissueBox", "Book", "CellPhone", "Plate", "Bowl",
        ],
    },
}
_LAMP_RECEPTACLES = ("Desk", "SideTable", "Dresser")
# Receptacles that take part in a state-change task must not be its placement target.
_STATE_CHANGE = {
    "pick_clean_then_place_in_recep": ("Cleanable", "SinkBasin"),
    "pick_heat_then_place_in_recep": ("Heatable", "Microwave"),
    "pick_cool_then_place_in_recep": ("Coolable", "Fridge"),
}


class GenerationError(RuntimeError):
    """No solvable game could be drawn for the requested slot."""


@dataclass(frozen=True)
class GameSpec:
    """Identifies one generated game. ``index`` counts games of this (split, scene_size, task_type)."""

    split: str
    scene_size: str
    task_type: str
    index: int

    def __post_init__(self):
        if self.split not in SPLITS:
            raise ValueError(f"unknown split {self.split!r}; expected one of {SPLITS}")
        if self.scene_size not in SCENE_SIZES:
            raise ValueError(f"unknown scene_size {self.scene_size!r}; expected one of {tuple(SCENE_SIZES)}")
        if self.task_type not in TASK_TYPES:
            raise ValueError(f"unknown task_type {self.task_type!r}; expected one of {TASK_TYPES}")
        if not isinstance(self.index, int) or self.index < 0:
            raise ValueError(f"index must be a non-negative int, got {self.index!r}")

    @property
    def game_id(self) -> str:
        return f"gen-v{GENERATOR_VERSION}/{self.split}/{self.scene_size}/{self.task_type}/{self.index:05d}"


# --------------------------------------------------------------------------------------- alfworld tables
@lru_cache(maxsize=1)
def _tables() -> dict[str, Any]:
    """Domain, grammar and affordance tables from the installed alfworld package (read once)."""
    import alfworld.gen.constants as constants
    import alfworld.gen.goal_library as goal_library
    from alfworld.info import ALFRED_PDDL_PATH, ALFRED_TWL2_PATH

    return {
        "domain": Path(ALFRED_PDDL_PATH).read_text(),
        "grammar": Path(ALFRED_TWL2_PATH).read_text(),
        "goals": goal_library.gdict,
        "holds": {r: set(objs) for r, objs in constants.VAL_RECEPTACLE_OBJECTS.items()},
        "affordances": {k: set(v) for k, v in constants.VAL_ACTION_OBJECTS.items()},
        "openable": set(constants.OPENABLE_CLASS_LIST),
        "movable": set(constants.MOVABLE_RECEPTACLES),
    }


def is_held_out(obj: str, target: str) -> bool:
    """Whether the (object class, target class) task combination is reserved for out-of-distribution eval."""
    return zlib.crc32(f"{obj}|{target}".encode()) % 5 == 0


# --------------------------------------------------------------------------------------- scene drawing
def _thor_id(cls: str, rng: random.Random, used: set[str], suffix: str = "") -> str:
    """A THOR-style escaped id such as ``Mug_bar__minus_00_dot_24_bar__plus_01_dot_01_bar__plus_00_dot_20``."""
    while True:
        coords = "_bar_".join(_escape(f"{rng.uniform(-4, 4):+06.2f}") for _ in range(3))
        name = f"{cls}_bar_{coords}{suffix}"
        if name not in used:
            used.add(name)
            return name


def _escape(text: str) -> str:
    return text.replace("+", "_plus_").replace("-", "_minus_").replace(".", "_dot_")


def _location(rng: random.Random, used: set[str]) -> str:
    while True:
        parts = [rng.randint(-12, 12), rng.randint(-12, 20), rng.choice([0, 1, 2, 3]), rng.choice([-30, 0, 30, 45, 60])]
        name = "loc_bar_" + "_bar_".join(_escape(str(p)) for p in parts)
        if name not in used:
            used.add(name)
            return name


def _rooms_for(task_type: str) -> list[str]:
    if task_type == "look_at_obj_in_light":
        return ["bedroom", "livingroom"]
    if task_type == "pick_clean_then_place_in_recep":
        return ["kitchen", "bathroom"]
    if task_type in ("pick_heat_then_place_in_recep", "pick_cool_then_place_in_recep"):
        return ["kitchen"]
    return list(_ROOMS)


def _receptacle_counts(room: str, size: str, rng: random.Random) -> dict[str, int]:
    spec = _ROOMS[room]["receptacles"]
    counts = {cls: lo for cls, (lo, _) in spec.items()}
    low, high = SCENE_SIZES[size]
    target = rng.randint(low, high)
    growable = [cls for cls, (lo, hi) in spec.items() if hi > lo]
    while sum(counts.values()) < target and growable:
        cls = rng.choice(growable)
        counts[cls] += 1
        if counts[cls] >= spec[cls][1]:
            growable.remove(cls)
    return {cls: n for cls, n in counts.items() if n > 0}


def _draw_task(spec: GameSpec, room: str, receptacles: dict[str, int], rng: random.Random) -> dict[str, str] | None:
    """(object_target, parent_target, toggle_target) for the task type, or None if the room cannot host it."""
    t = _tables()
    present = [c for c in receptacles]
    objects = _ROOMS[room]["objects"]
    want_held_out = spec.split == "eval_out_of_distribution"
    if spec.task_type == "look_at_obj_in_light":
        if not any(c in receptacles for c in _LAMP_RECEPTACLES):
            return None
        pairs = [(o, "DeskLamp") for o in objects]
    else:
        banned_parent = {"SinkBasin", "Microwave", "Fridge"} if spec.task_type in _STATE_CHANGE else set()
        needed = _STATE_CHANGE.get(spec.task_type)
        candidates = [o for o in objects if needed is None or o in t["affordances"][needed[0]]]
        if needed is not None and needed[1] not in receptacles:
            return None
        pairs = [(o, p) for o in candidates for p in present if p not in banned_parent and o in t["holds"].get(p, ())]
    pairs = [(o, p) for o, p in pairs if is_held_out(o, p) == want_held_out and _has_other_home(o, p, present)]
    if not pairs:
        return None
    obj, target = rng.choice(sorted(pairs))
    if spec.task_type == "look_at_obj_in_light":
        return {"object_target": obj, "parent_target": "", "toggle_target": target}
    return {"object_target": obj, "parent_target": target, "toggle_target": ""}


def _has_other_home(obj: str, target: str, present: list[str]) -> bool:
    """The target object can start somewhere other than the goal receptacle class."""
    holds = _tables()["holds"]
    return any(obj in holds.get(r, ()) for r in present if r != target)


def _sentence(task_type: str, params: dict[str, str], rng: random.Random) -> str:
    template = rng.choice(_tables()["goals"][task_type]["templates"])
    return template.format(
        obj=params["object_target"].lower(),
        recep=params["parent_target"].lower(),
        toggle=params["toggle_target"].lower(),
        mrecep="",
    )


def draw_game(spec: GameSpec, rng: random.Random) -> dict[str, Any] | None:
    """One candidate game (not yet checked by the planner), or None if the draw could not host the task."""
    t = _tables()
    room = rng.choice(_rooms_for(spec.task_type))
    counts = _receptacle_counts(room, spec.scene_size, rng)
    params = _draw_task(spec, room, counts, rng)
    if params is None:
        return None
    used: set[str] = set()
    locations: set[str] = set()
    receptacles: list[tuple[str, str, str]] = []  # (id, class, location)
    for cls in sorted(counts):
        for _ in range(counts[cls]):
            if cls.endswith("Basin"):
                rid = _thor_id(cls[: -len("Basin")], rng, used, suffix=f"_bar_{cls}")
            else:
                rid = _thor_id(cls, rng, used)
            receptacles.append((rid, cls, _location(rng, locations)))
    rng.shuffle(receptacles)

    obj_cls, parent, toggle = params["object_target"], params["parent_target"], params["toggle_target"]
    n_objects = int(len(receptacles) * rng.uniform(0.9, 1.5)) + 2
    placements: list[tuple[str, str]] = []  # (object class, receptacle id)

    def place(cls: str, avoid: str = "") -> bool:
        homes = [r for r in receptacles if cls in t["holds"].get(r[1], ()) and r[1] != avoid]
        if not homes:
            return False
        placements.append((cls, rng.choice(homes)[0]))
        return True

    n_targets = 2 + rng.randint(0, 1) if spec.task_type == "pick_two_obj_and_place" else 1 + rng.randint(0, 1)
    for _ in range(n_targets):
        if not place(obj_cls, avoid=parent):
            return None
    if toggle:
        lamp_homes = [r for r in receptacles if r[1] in _LAMP_RECEPTACLES]
        placements.append((toggle, rng.choice(lamp_homes)[0]))
    distractors = [o for o in _ROOMS[room]["objects"] if o != obj_cls]
    while len(placements) < n_objects:
        place(rng.choice(distractors))

    objects = [(_thor_id(cls, rng, used), cls, rid) for cls, rid in placements]
    start = _location(rng, locations)
    sentence = _sentence(spec.task_type, params, rng)
    problem = _problem_text(spec, receptacles, objects, start, params)
    traj_data = {
        "task_type": spec.task_type,
        "pddl_params": {**params, "mrecep_target": "", "object_sliced": False},
        "scene": {"room": room, "receptacles": len(receptacles), "objects": len(objects)},
    }
    return {
        "pddl_domain": t["domain"],
        "grammar": t["grammar"].replace("UNKNOWN GOAL", sentence),
        "pddl_problem": problem,
        "solvable": False,
        "walkthrough": None,
        "traj_data": traj_data,
        "game_id": spec.game_id,
        "_hint": _plan_hint(spec.task_type, receptacles, objects, n_targets, params),
    }


def _plan_hint(task_type, receptacles, objects, n_targets, params) -> dict[str, Any]:
    """Scene facts a constructed plan needs: (id, openable) of the targets' homes, the goal receptacle,
    the appliance and the lamp's receptacle."""
    openable = _tables()["openable"]
    cls_of = {rid: cls for rid, cls, _ in receptacles}

    def first(cls: str) -> str | None:
        return next((rid for rid, c, _ in receptacles if c == cls), None)

    appliance = _STATE_CHANGE.get(task_type, (None, None))[1]
    lamp = objects[n_targets] if params["toggle_target"] else None
    return {
        "targets": [(oid, rid) for oid, _, rid in objects[:n_targets]],
        "parent": first(params["parent_target"]) if params["parent_target"] else None,
        "appliance": first(appliance) if appliance else None,
        "lamp": [lamp[0], lamp[2]] if lamp else None,
        "openable": sorted(rid for rid, cls in cls_of.items() if cls in openable),
    }


def _constructed_plan(task_type: str, hint: dict[str, Any], name: Any) -> list[str]:
    """A straightforward command list that should win the game (verified by replay in the engine)."""
    plan: list[str] = []
    opened: set[str] = set()
    here = [None]

    def go(rid: str) -> None:
        if here[0] != rid:
            plan.append(f"go to {name(rid)}")
            here[0] = rid
        if rid in hint["openable"] and rid not in opened:
            plan.append(f"open {name(rid)}")
            opened.add(rid)

    def fetch(oid: str, rid: str) -> None:
        go(rid)
        plan.append(f"take {name(oid)} from {name(rid)}")

    targets = hint["targets"][:2] if task_type == "pick_two_obj_and_place" else hint["targets"][:1]
    for oid, rid in targets:
        fetch(oid, rid)
        if task_type == "look_at_obj_in_light":
            lamp_id, lamp_home = hint["lamp"]
            if here[0] != lamp_home:
                plan.append(f"go to {name(lamp_home)}")
                here[0] = lamp_home
            plan.append(f"use {name(lamp_id)}")
            return plan
        verb = {"pick_clean_then_place_in_recep": "clean", "pick_heat_then_place_in_recep": "heat",
                "pick_cool_then_place_in_recep": "cool"}.get(task_type)
        if verb:
            plan.append(f"go to {name(hint['appliance'])}")
            here[0] = hint["appliance"]
            plan.append(f"{verb} {name(oid)} with {name(hint['appliance'])}")
        go(hint["parent"])
        plan.append(f"move {name(oid)} to {name(hint['parent'])}")
    return plan


def _problem_text(spec, receptacles, objects, start, params) -> str:
    t = _tables()
    rcls = sorted({c for _, c, _ in receptacles} | {"SinkBasin", "Microwave", "Fridge"})
    ocls = sorted({c for _, c, _ in objects} | {"Knife", "ButterKnife", "Sink"})
    loc_of = {rid: loc for rid, _, loc in receptacles}
    lines = ["(define (problem plan_" + _escape(spec.game_id.replace("/", "_")) + ")", "(:domain alfred)", "(:objects",
             "agent1 - agent"]
    lines += [f"        {c}Type - otype" for c in ocls]
    lines += [f"        {c}Type - rtype" for c in rcls]
    lines += [f"        {oid} - object" for oid, _, _ in objects]
    lines += [f"        {rid} - receptacle" for rid, _, _ in receptacles]
    lines += [f"        {loc} - location" for loc in sorted(set(loc_of.values()) | {start})]
    lines += ["        )", "    ", "(:init", "", f"        (atLocation agent1 {start})"]
    for rid, cls, loc in receptacles:
        lines.append(f"        (receptacleType {rid} {cls}Type)")
        lines.append(f"        (receptacleAtLocation {rid} {loc})")
        if cls in t["openable"]:
            lines.append(f"        (openable {rid})")
    affordance_facts = {"Cleanable": "cleanable", "Heatable": "heatable", "Coolable": "coolable",
                        "Toggleable": "toggleable", "Sliceable": "sliceable"}
    for oid, cls, rid in objects:
        lines.append(f"        (objectType {oid} {cls}Type)")
        lines.append(f"        (inReceptacle {oid} {rid})")
        lines.append(f"        (objectAtLocation {oid} {loc_of[rid]})")
        if cls not in t["affordances"]["Toggleable"]:
            lines.append(f"        (pickupable {oid})")
        if cls in t["movable"]:
            lines.append(f"        (isReceptacleObject {oid})")
        for table, fact in affordance_facts.items():
            if cls in t["affordances"][table]:
                lines.append(f"        ({fact} {oid})")
    present_o = sorted({c for _, c, _ in objects})
    for r in sorted({c for _, c, _ in receptacles}):
        for o in present_o:
            if o in t["holds"].get(r, ()):
                lines.append(f"        (canContain {r}Type {o}Type)")
    lines.append("        )")
    goal = t["goals"][spec.task_type]["pddl"].format(
        obj=params["object_target"], recep=params["parent_target"], toggle=params["toggle_target"], mrecep=""
    )
    lines.append(goal.replace("#", "-"))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------- checking
@lru_cache(maxsize=1)
def _checker():
    """One planner-enabled engine per process (each engine loads its own copy of Fast Downward)."""
    from spear_envs.alfworld.engine import AlfredEngine

    return AlfredEngine()


def replays_to_win(game: dict[str, Any], plan: list[str]) -> bool:
    """Whether ``plan`` played from reset is admissible at every step and wins exactly at its last step."""
    engine = _checker()
    engine.load(game)
    state = engine.reset()
    if state.won or not plan:
        return False
    for k, command in enumerate(plan):
        if command not in state.admissible_commands:
            return False
        state = engine.step(command)
        if state.won != (k == len(plan) - 1):
            return False
    return True


def planner_walkthrough(game: dict[str, Any]) -> list[str]:
    """Fast Downward's plan from the game's initial state (seconds to minutes on large scenes)."""
    engine = _checker()
    engine.load(game)
    engine.reset()
    return engine.plan()


def check_solvable(game: dict[str, Any], use_planner: bool = False) -> list[str] | None:
    """A winning walkthrough if the game is well-formed (goal false at reset, the walkthrough replays to a
    win in the real engine), else None.

    By default the walkthrough is constructed from the scene (the generator knows where everything is) and
    proven by replay; with ``use_planner`` (or when the construction fails) it is Fast Downward's plan.
    """
    hint = game.get("_hint")
    if hint is not None and not use_planner:
        engine = _checker()
        engine.load(game)
        engine.reset()
        plan = _constructed_plan(game["traj_data"]["task_type"], hint, engine.display_name)
        if replays_to_win(game, plan):
            return plan
    plan = planner_walkthrough(game)
    return plan if replays_to_win(game, plan) else None


def generate_game(spec: GameSpec, use_planner: bool = False) -> dict[str, Any]:
    """Draw candidates for ``spec`` until one passes :func:`check_solvable`; deterministic in ``spec``."""
    rng = random.Random(f"spear-alfworld-v{GENERATOR_VERSION}|{_SPLIT_STREAM[spec.split]}|{spec.scene_size}|"
                        f"{spec.task_type}|{spec.index}")
    for _ in range(_MAX_ATTEMPTS):
        game = draw_game(spec, rng)
        if game is None:
            continue
        plan = check_solvable(game, use_planner=use_planner)
        del game["_hint"]
        if plan is not None:
            game["solvable"] = True
            game["walkthrough"] = plan
            return game
    raise GenerationError(f"no solvable game for {spec} after {_MAX_ATTEMPTS} attempts")


def cached_game_problem(game: Any, spec: GameSpec) -> str | None:
    """What is wrong with a cached game dict for ``spec`` (wrong type or keys, another game), or None."""
    if not isinstance(game, dict):
        return f"a JSON {type(game).__name__}, not a game object"
    wrong = [k for k in ("pddl_domain", "grammar", "pddl_problem", "game_id") if not isinstance(game.get(k), str)]
    traj = game.get("traj_data")
    if not isinstance(traj, dict) or not isinstance(traj.get("task_type"), str) \
            or not isinstance(traj.get("pddl_params"), dict):
        wrong.append("traj_data")
    if wrong:
        return f"missing or malformed {wrong}"
    if game["game_id"] != spec.game_id:
        return f"the game {game['game_id']!r}, not {spec.game_id!r}"
    return None


def games_dir() -> Path:
    """The on-disk cache of generated games for this generator version."""
    from spear_envs.core.cache import cache_dir

    return cache_dir("alfworld", f"games-v{GENERATOR_VERSION}")


def load_or_generate(spec: GameSpec, cache: bool = True) -> dict[str, Any]:
    """The game for ``spec`` from the disk cache, generating (and caching) it on a miss.

    Cache files are written atomically, so concurrent processes never read a partial file; an
    unreadable cache file, or one that does not hold this game (:func:`cached_game_problem`), is
    regenerated with a warning naming it.
    """
    if not cache:
        return generate_game(spec)
    path = games_dir() / (spec.game_id.split("/", 1)[1].replace("/", "__") + ".json")
    if path.is_file():
        try:
            with open(path, encoding="utf-8") as f:
                game = json.load(f)
            problem = cached_game_problem(game, spec)
        except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            problem = f"unreadable ({exc})"
        if problem is None:
            return game
        warnings.warn(f"cached ALFWorld game {path} is {problem}; regenerating it", stacklevel=2)
    game = generate_game(spec)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(game, f)
    os.replace(tmp, path)
    return game
