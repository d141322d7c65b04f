"""A faster TextWorld PDDL engine that produces byte-identical transcripts.

Profiling the stock ``textworld.envs.PddlEnv`` on ALFWorld games shows ~90% of a step in
``ContextSensitiveGrammar.derive``: every call re-parses the same few command/feedback templates with
TatSu and deep-copies its context dicts, and every reset translates the same PDDL problem to SAS twice.
This module removes that repeated work without changing any rule of the engine:

* :class:`MemoGrammar` parses each template string once and hands out fresh symbol objects; it copies
  contexts shallowly (nothing in a derivation mutates the entities a context points to) and memoises
  ``Rule.parse_conjunctive_query`` per condition string. Rule choice, query order and string assembly
  are exactly the stock algorithm.
* :func:`shared_logic` parses a (domain, grammar) pair once per process and shares the read-only
  :class:`GameLogic` between envs, so many envs do not multiply its memory; a new game's grammar reuses
  the rule parses of every game before it (:mod:`spear_envs.alfworld.fast_logic`).
* :class:`CachedPddlState` reuses the two PDDL->SAS translations of a problem and its initial facts
  (process-wide LRUs of :data:`GAME_CACHE_SIZE` games; the translations also persist across processes in
  :mod:`~spear_envs.alfworld.sas_store`), so a reset only reloads the SAS task into the C library. A reset builds a fresh state from these read-only parts: play never writes into them.
* :class:`FastPddlEnv` is ``PddlEnv`` wired to the three caches. Nothing in site-packages is patched:
  the stock engine keeps working side by side (the byte-identity test and the benchmark run both).

``tests/envs/alfworld/test_fast_engine.py`` checks transcript identity against the stock engine.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Mapping
from typing import Any, Callable

import fast_downward
import textworld
from textworld.core import GameState
from textworld.envs.pddl import PddlEnv
from textworld.envs.pddl import logic as pddl_logic
from textworld.envs.pddl.textgen import (
    ConditionalSymbol,
    ContextSensitiveGrammar,
    CSGUnknownSymbolError,
    EvalSymbol,
    ListSymbol,
    NonterminalSymbol,
    Symbol,
    TerminalSymbol,
    display_list,
)
from textworld.logic import Proposition, Rule, Variable

from spear_envs.alfworld import sas_store
from spear_envs.alfworld.fast_logic import clear_rule_memo, clone_symbol, parse_game_logic, parse_symbols

__all__ = ["MemoGrammar", "CachedPddlState", "FastPddlEnv", "shared_logic", "translate", "clear_caches",
           "GAME_CACHE_SIZE", "configure_game_cache", "parse_task"]


class _LRU:
    """A small thread-safe LRU memo: ``get(key, make)`` returns the cached value or stores ``make()``."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = make()
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


#: Games whose parsed logic, two SAS translations and initial facts stay loaded per process (LRU). A game
#: holds ~0.75 MB here, so the cap bounds the caches at ~0.2 GB however many games a run draws. It holds
#: a laptop run's 100 held-out games plus the training games of ~40 steps, so an evaluation after the
#: first parses and translates no game again (docs/training.md, 'Where a laptop step's time goes').
GAME_CACHE_SIZE = 256

_QUERIES = _LRU(4096)  # condition text -> Rule
_LOGICS = _LRU(GAME_CACHE_SIZE)  # (domain, grammar) -> GameLogic (was 64, fewer than an evaluation's games)
_TRANSLATIONS = _LRU(GAME_CACHE_SIZE)  # (domain, problem) -> (task, sas, sas_replan)
_INITIAL_FACTS = _LRU(GAME_CACHE_SIZE)  # (domain, problem) -> (problem facts, initial SAS-state facts)


_reuse_rule_parses = True


def configure_game_cache(logics: int = GAME_CACHE_SIZE, states: int = GAME_CACHE_SIZE, *,
                         reuse_rule_parses: bool = True, sas_store_enabled: bool = True) -> None:
    """Set how many games' parsed logics and (translations, initial facts) stay cached, whether a new
    game's grammar reuses earlier rule parses, and whether translations are read from and written to the
    on-disk :mod:`~spear_envs.alfworld.sas_store`; drops every in-process cache. The defaults are the
    engine's; ``configure_game_cache(64, 256, reuse_rule_parses=False, sas_store_enabled=False)`` is its
    setting before the game cache (``benchmarks/laptop_speed.py --part env`` and
    ``benchmarks/alfworld_game_cache.py`` compare them). Transcripts are the same either way."""
    global _reuse_rule_parses
    for name, size in (("logics", logics), ("states", states)):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"{name} must be a positive int (games to keep), got {size!r}")
    sas_store.set_enabled(sas_store_enabled)  # checks its value first: a bad call changes nothing
    _LOGICS.maxsize = logics
    _TRANSLATIONS.maxsize = _INITIAL_FACTS.maxsize = states
    _reuse_rule_parses = bool(reuse_rule_parses)
    clear_caches()


def clear_caches() -> None:
    """Drop every process-wide cache (rule and template parses, queries, logics, translations, initial facts)."""
    clear_rule_memo()
    for cache in (_QUERIES, _LOGICS, _TRANSLATIONS, _INITIAL_FACTS):
        cache.clear()


# --------------------------------------------------------------------------------------- grammar
def _query_rule(expression: str) -> Rule:
    return _QUERIES.get(expression, lambda: Rule.parse_conjunctive_query(expression))


def _copy_context(context: dict) -> dict:
    return {
        "state": context["state"],
        "facts": context["facts"],
        "variables": dict(context["variables"]),
        "mapping": dict(context["mapping"]),
        "entity_infos": context["entity_infos"],
    }


class MemoGrammar(ContextSensitiveGrammar):
    """``ContextSensitiveGrammar`` with memoised template parsing and shallow context copies."""

    @classmethod
    def from_grammar(cls, grammar: ContextSensitiveGrammar) -> "MemoGrammar":
        memo = cls()
        memo.update(grammar)
        return memo

    def _query(self, expression: str, context: dict) -> list[dict]:
        contexts = []
        for mapping in context["state"].all_assignments(_query_rule(expression), context["mapping"]):
            new = _copy_context(context)
            new["variables"].update({ph.name: new["entity_infos"][var.name] for ph, var in mapping.items()})
            new["mapping"].update(mapping)
            contexts.append(new)
        return contexts

    def _conditional(self, symbol: ConditionalSymbol) -> list[Symbol]:
        if len(symbol.context) == 0:
            raise ValueError("Empty context")
        context = _copy_context(symbol.context)
        contexts = self._query(symbol.given, context) if symbol.given else [context]
        out = []
        for ctx in contexts:
            expression = clone_symbol(symbol.expression)
            expression.context = _copy_context(ctx)
            out.append(expression)
        return out

    def _list(self, symbol: ListSymbol) -> list[Symbol]:
        inner = symbol.symbol
        inner.context = symbol.context
        derivation = self._conditional(inner) if isinstance(inner, ConditionalSymbol) else inner.derive()
        return display_list(derivation, symbol.context)

    def replace(self, start: Symbol) -> list[Symbol]:
        rules = self._rules.get(str(start))
        if not rules:
            raise CSGUnknownSymbolError(start)
        state, mapping = start.context["state"], start.context["mapping"]
        chosen = None
        for rule in rules:
            if not rule.condition or any(True for _ in state.all_assignments(_query_rule(rule.condition), mapping)):
                chosen = rule
                break
        if chosen is None:
            raise IndexError("no applicable production rule for #{}#".format(start))
        symbols = [clone_symbol(s) for s in chosen.rhs]
        for symbol in symbols:
            symbol.context = _copy_context(start.context)
        return symbols

    def derive(self, start: str, context: dict = {}) -> str:  # noqa: B006 (stock signature)
        stack = parse_symbols(start)[::-1]
        for symbol in stack:
            symbol.context = _copy_context(context)
        derived: list[Symbol] = []
        while stack:
            symbol = stack.pop()
            if isinstance(symbol, TerminalSymbol):
                derived.append(symbol)
            elif isinstance(symbol, NonterminalSymbol):
                stack += self.replace(symbol)[::-1]
            elif isinstance(symbol, ConditionalSymbol):
                stack += self._conditional(symbol)[::-1]
            elif isinstance(symbol, ListSymbol):
                stack += self._list(symbol)[::-1]
            elif isinstance(symbol, EvalSymbol):
                stack += symbol.derive()[::-1]
            else:
                raise NotImplementedError("Unknown symbol: {}".format(type(symbol)))
        return "".join(map(str, derived))


# --------------------------------------------------------------------------------------- logic and state
def shared_logic(domain: str, grammar: str) -> pddl_logic.GameLogic:
    """The parsed game logic for (domain, grammar), shared process-wide. Treat it as read-only."""

    def make() -> pddl_logic.GameLogic:
        if _reuse_rule_parses:
            logic = parse_game_logic(domain, grammar)
        else:
            logic = pddl_logic.GameLogic(domain=domain, grammar=grammar)
        logic.grammar = MemoGrammar.from_grammar(logic.grammar)
        return logic

    return _LOGICS.get((domain, grammar), make)


def translate(domain: str, problem: str) -> tuple[Any, str, str]:
    """(task, sas, sas_replan): the two Fast Downward translations a ``PddlState`` needs, memoised.

    ``fast_downward.pddl2sas`` overwrites ``sys.argv``; it is restored here.
    """

    def make() -> tuple[Any, str, str]:
        stored = sas_store.load(domain, problem)
        if stored is not None:
            return parse_task(domain, problem), *stored
        argv = list(sys.argv)
        try:
            task, sas = fast_downward.pddl2sas(domain, problem)
            _, sas_replan = fast_downward.pddl2sas(domain, problem, optimize=True)
        finally:
            sys.argv[:] = argv
        sas_store.save(domain, problem, sas, sas_replan)
        return task, sas, sas_replan

    return _TRANSLATIONS.get((domain, problem), make)


def parse_task(domain: str, problem: str) -> Any:
    """The translator's parsed and normalised task: the first output of ``fast_downward.pddl2sas``, without
    the translation (what a reset needs beside translations read from :mod:`~spear_envs.alfworld.sas_store`)."""
    argv = list(sys.argv)
    try:
        sys.argv = ["translate.py", "domain", "task"]  # the translator's options module parses argv on import
        from fast_downward.translate import normalize
        from fast_downward.translate.pddl_parser import lisp_parser, parsing_functions

        task = parsing_functions.parse_task(lisp_parser.parse_nested_list(domain.split("\n")),
                                            lisp_parser.parse_nested_list(problem.split("\n")))
        normalize.normalize(task)
    finally:
        sys.argv[:] = argv
    return task


class CachedPddlState(pddl_logic.PddlState):
    """``PddlState`` built from a memoised translation and initial facts (same facts, same loaded C state)."""

    def __init__(self, downward_lib, pddl_problem: str, logic: pddl_logic.GameLogic):  # noqa: D107
        self._facts = defaultdict(set)
        self._vars_by_name = {}
        self._vars_by_type = defaultdict(set)
        self._var_counts = Counter()
        self._logic = logic
        self.downward_lib = downward_lib
        self.pddl_problem = pddl_problem
        self.task, self.sas, self.sas_replan = translate(logic.domain, pddl_problem)
        self._actions = {a.name: a for a in self.task.actions}
        for type_ in self.task.types:
            try:
                self._logic.types.add(textworld.logic.Type(type_.name, type_.supertype_names))
            except ValueError:
                pass
        self.downward_lib.load_sas(self.sas.encode("utf-8"))
        self.downward_lib.load_sas_replan(self.sas_replan.encode("utf-8"))
        self.name2type = {o.name: o.type_name for o in self.task.objects}
        problem_facts, sas_facts = _INITIAL_FACTS.get((logic.domain, pddl_problem), self._initial_facts)
        self.add_facts(problem_facts)
        self.add_facts(sas_facts)

    def _initial_facts(self) -> tuple[list[Proposition], list[Proposition]]:
        """The two fact lists the stock constructor adds, in its order: the problem's ``:init`` and the
        loaded SAS state's true atoms. Both depend only on the problem, so they are computed once (reading
        the SAS state back from the C library is most of a stock reset) and shared; facts are immutable."""
        problem_facts = [f for f in map(self._initial_fact, self.task.init) if f is not None]
        atoms = (pddl_logic.Atom * self.downward_lib.get_state_size())()
        self.downward_lib.get_state(atoms)
        facts = [atom.get_fact(self.name2type) for atom in atoms]
        return problem_facts, [fact for fact in facts if not fact.is_negation]

    def _initial_fact(self, atom) -> Proposition | None:
        pddl = fast_downward.translate.pddl
        if isinstance(atom, pddl.conditions.Atom):
            if atom.predicate == "=":
                return None
            return Proposition(atom.predicate, [Variable(arg, self.name2type[arg]) for arg in atom.args])
        if isinstance(atom, pddl.f_expression.Assign):
            if atom.fluent.symbol == "total-cost":
                return None
            name = "{}".format(atom.expression.value)
            if str.isdigit(name):  # distance relations are not facts
                return None
            return Proposition(name, [Variable(arg, self.name2type[arg]) for arg in atom.fluent.args])
        return None


class FastPddlEnv(PddlEnv):
    """``textworld.envs.PddlEnv`` using the shared logic, memoised translations and :class:`MemoGrammar`."""

    def load(self, filename_or_data) -> None:
        if isinstance(filename_or_data, Mapping):
            data, self._game_file = filename_or_data, None
        else:
            with open(filename_or_data) as f:
                data = json.load(f)
            self._game_file = filename_or_data
        self._game_data = data
        self.walkthrough = data.get("walkthrough", None)
        self._logic = shared_logic(data["pddl_domain"], data["grammar"])
        self._pddl_state = CachedPddlState(self.downward_lib, data["pddl_problem"], self._logic)
        self._entity_infos = self._get_entity_infos()

    def reset(self) -> GameState:
        self._pddl_state = CachedPddlState(self.downward_lib, self._game_data["pddl_problem"], self._logic)
        self.prev_state = None
        self.state = GameState()
        self._last_action = None
        self._moves = 0
        context = {
            "state": self._pddl_state,
            "facts": list(self._pddl_state.facts),
            "variables": {},
            "mapping": {},
            "entity_infos": self._entity_infos,
        }
        self.state.feedback = self._logic.grammar.derive("#intro#", context)
        self.state.raw = self.state.feedback
        self._gather_infos()
        if "walkthrough" in self.request_infos.extras:
            self.state["extra.walkthrough"] = self.walkthrough or self._pddl_state.replan(self._entity_infos)
        return self.state
