"""``spear/WebShop-v0``: shop for a product matching an instruction, by searching and clicking.

Zero downloads: by default the env runs on a generated 1,000-product catalog (written once to the
spear-bench cache in upstream's file format). ``data_dir=PATH`` (or ``$SPEAR_WEBSHOP_DATA``) runs on
real upstream files instead (``items_shuffle_1000.json`` + ``items_ins_v2_1000.json`` [+
``items_human_ins.json``]), checked against their pinned sizes/hashes.

Actions: ``search[<query>]`` and ``click[<label>]`` (case-insensitive, as upstream). A refused action
leaves the page unchanged and returns ``action_valid=False`` with ``info["error"]`` saying why.

Reward: ``success_reward`` (10) when the purchase scores exactly 1.0, else 0 (``reward_mode="binary"``,
as verl-agent/SPEAR); ``reward_mode="score"`` returns the raw score instead (upstream).

Info keys, beyond the contract's ``task, task_id, admissible_actions, won, action_valid``:
``score`` (raw score in [0, 1], 0.0 until bought), ``page`` (search | results | item | sub | done),
``available_actions`` (upstream's ``{"has_search_bar", "clickables"}``), ``goal_id``, ``error`` (str, on
refused actions) and ``reward_info`` (the score's breakdown, after ``buy now``).

Reset options: ``{"goal_index": int}`` picks a goal of the env's split by index (else one is drawn with
upstream's attribute-rarity weights from the env's RNG); ``{"split": "train" | "eval" | "test"}``
overrides the split for that episode.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np

from spear_envs.core.text_env import TextEnv
from spear_envs.webshop.catalog import Catalog, CatalogSource, catalog_size, default_data_dir, get_catalog
from spear_envs.webshop.goal_generator import SPLITS, Goal
from spear_envs.webshop.nouns import get_noun_extractor
from spear_envs.webshop.pages import InvalidAction, Shop

OBSERVATION_MODES = ("text", "text_rich", "html")
REWARD_MODES = ("binary", "score")


class WebShopEnv(TextEnv):
    """WebShop as a multi-turn text env (see the module docstring).

    Args:
        max_steps: steps before truncation (15, as verl-agent/SPEAR).
        observation_mode: ``"text"`` (upstream's " [SEP] "-joined visible text), ``"text_rich"`` or ``"html"``.
        data_dir: folder with upstream files; ``None`` uses ``$SPEAR_WEBSHOP_DATA`` or the generated catalog.
        n_products, catalog_seed: size and seed of the generated catalog (ignored with ``data_dir``);
            ``n_products`` may name a size: ``"1k"``, ``"100k"`` or ``"full"`` (upstream's 1.18M products).
        goals: ``"synthetic"`` (attribute-file instructions x option combinations) or ``"human"``.
        split: ``"train"``, ``"eval"`` or ``"test"`` (disjoint by target product).
        reward_mode, success_reward: see the module docstring.
        noun_extractor: ``"heuristic"`` (default, no model), ``"spacy"`` or ``"auto"`` (see ``nouns.py``).
        show_attrs, search_anywhere, hide_done_dump: upstream switches (see :class:`~.pages.Shop`).
        verify_data: check known upstream files against their pinned sizes and hashes.
    """

    env_version: ClassVar[str] = "1"
    reset_options: ClassVar[tuple[str, ...]] = ("goal_index", "split")

    def __init__(
        self,
        max_steps: int = 15,
        *,
        observation_mode: str = "text",
        data_dir: str | None = None,
        n_products: int | str = 1000,
        catalog_seed: int = 0,
        goals: str = "synthetic",
        split: str = "train",
        reward_mode: str = "binary",
        success_reward: float = 10.0,
        noun_extractor: str = "heuristic",
        show_attrs: bool = False,
        search_anywhere: bool = True,
        hide_done_dump: bool = False,
        verify_data: bool = True,
        max_action_length: int = 512,
        render_mode: str | None = None,
    ):
        super().__init__(max_steps=max_steps, max_action_length=max_action_length, render_mode=render_mode)
        if observation_mode not in OBSERVATION_MODES:
            raise ValueError(f"observation_mode must be one of {OBSERVATION_MODES}, got {observation_mode!r}")
        if reward_mode not in REWARD_MODES:
            raise ValueError(f"reward_mode must be one of {REWARD_MODES}, got {reward_mode!r}")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.observation_mode, self.reward_mode, self.success_reward = observation_mode, reward_mode, float(success_reward)
        self.goal_kind, self.split = goals, split
        self.noun_extractor_name = noun_extractor
        self._shop_options = dict(show_attrs=show_attrs, search_anywhere=search_anywhere, hide_done_dump=hide_done_dump)
        self._source = CatalogSource(data_dir or default_data_dir(), catalog_size(n_products), catalog_seed,
                                     verify_data=verify_data)
        self._catalog: Catalog = get_catalog(self._source)
        self._catalog.goals(goals, split)  # fail now on an unknown goal kind
        self._nouns = get_noun_extractor(noun_extractor)
        self._shop: Shop | None = None
        self._task_order = None  # task_options' permutation of the split's goals
        self._expert_plan, self._expert_next = None, None  # expert_action's per-episode plan

    # ------------------------------------------------------------------ public helpers
    @property
    def catalog(self) -> Catalog:
        """The shared catalog this env runs on."""
        return self._catalog

    @property
    def goal(self) -> Goal | None:
        """The current episode's goal (``None`` before the first reset)."""
        return self._shop.goal if self._shop else None

    @property
    def shop(self) -> Shop | None:
        return self._shop

    def data_fingerprint(self) -> dict[str, Any]:
        return {
            "products_sha256_16": self._catalog.fingerprint,
            "products_file": self._catalog.files.products.name,
            "generated": self._source.data_dir is None,
            "n_products": len(self._catalog),
            "goals": self.goal_kind,
            "split": self.split,
            "noun_extractor": self._nouns.name,
        }

    # ------------------------------------------------------------------ optional contract hooks
    def task_count(self) -> int:
        """The goals of the env's split and goal kind."""
        return len(self._catalog.goals(self.goal_kind, self.split))

    def task_options(self, index: int) -> dict[str, Any]:
        """Task ``i`` is goal ``perm[i]`` of a fixed permutation of the split's goals (seeded by their
        count), because consecutive goals are option variants of one product: tasks ``0..N-1`` of a sweep
        are then ``N`` different products."""
        count = self.task_count()
        if self._task_order is None or len(self._task_order) != count:
            self._task_order = np.random.default_rng(count).permutation(count)
        return {"goal_index": int(self._task_order[self._check_task_index(index)])}

    def expert_action(self) -> str:
        """The scripted buyer (:mod:`spear_envs.webshop.scripted_buyer`, an oracle that knows the target):
        its next action for the current page. Asking twice before a step gives the same action."""
        from spear_envs.webshop.scripted_buyer import expert_actions

        if self._shop is None:
            raise NotImplementedError("WebShop's scripted buyer needs a reset env")
        if self._expert_next is None:
            if self._expert_plan is None:
                self._expert_plan = expert_actions(self)
            self._expert_next = next(self._expert_plan, "click[buy now]")
        return self._expert_next

    # ------------------------------------------------------------------ TextEnv hooks
    def _reset(self, seed: int | None, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        split = options.get("split", self.split)
        if split not in SPLITS:
            raise ValueError(f"options['split'] must be one of {SPLITS}, got {split!r}")
        goals = self._catalog.goals(self.goal_kind, split)
        if len(goals) == 0:
            raise ValueError(f"the {split} split of {self.goal_kind} goals is empty for this catalog")
        if "goal_index" in options:
            index = options["goal_index"]
            if not isinstance(index, int) or isinstance(index, bool):
                raise TypeError(f"options['goal_index'] must be an int, got {type(index).__name__}")
        else:
            index = goals.sample(self.np_random)
        goal = goals[index]
        self._expert_plan, self._expert_next = None, None
        self._shop = Shop(self._catalog, goal, self._nouns, **self._shop_options)
        return self._observation(), self._info(True, split=split)

    def _step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        assert self._shop is not None
        self._expert_next = None  # the buyer's plan reads the page this step leads to
        try:
            reward_info = self._shop.step(action)
        except InvalidAction as exc:
            info = self._info(False)
            info["error"] = str(exc)
            return self._observation(), 0.0, False, info
        info = self._info(True)
        if reward_info is None:
            return self._observation(), 0.0, False, info
        info["reward_info"] = reward_info.to_dict()
        if self.reward_mode == "score":
            reward = reward_info.score
        else:
            reward = self.success_reward if reward_info.score == 1.0 else 0.0
        return self._observation(), reward, True, info

    # ------------------------------------------------------------------ internals
    def _observation(self) -> str:
        shop = self._shop
        if self.observation_mode == "text":
            return shop.text()
        if self.observation_mode == "text_rich":
            return shop.text_rich()
        return shop.html()

    def _info(self, valid: bool, split: str | None = None) -> dict[str, Any]:
        shop = self._shop
        score = float(shop.state.reward["score"]) if shop.state.reward else 0.0
        info = {
            "task": shop.goal.instruction_text,
            "task_id": f"webshop/{self._catalog.fingerprint}/{shop.goal.goal_id}",
            "admissible_actions": shop.admissible_actions(),
            "won": score == 1.0,
            "action_valid": valid,
            "score": score,
            "page": shop.state.page,
            "goal_id": shop.goal.goal_id,
            "available_actions": {"has_search_bar": shop.has_search_bar(), "clickables": shop.clickables()},
        }
        if split is not None:
            info["split"] = split
        return info

    # ------------------------------------------------------------------ pickling (the catalog is shared, not copied)
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_expert_plan"] = None  # a generator; a restored env's expert plans afresh from its page
        shop = state.pop("_shop")
        state.pop("_catalog"), state.pop("_nouns")
        state["_shop_data"] = (shop.goal, copy.deepcopy(shop.state)) if shop else None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        shop_data = state.pop("_shop_data")
        self.__dict__.update(state)
        self._catalog = get_catalog(self._source)
        self._nouns = get_noun_extractor(self.noun_extractor_name)
        self._shop = None
        if shop_data is not None:
            self._shop = Shop(self._catalog, shop_data[0], self._nouns, **self._shop_options)
            self._shop.state = shop_data[1]
