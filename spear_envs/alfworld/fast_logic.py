"""Parsing a game's logic (PDDL actions and text grammar) with each grammar rule's right-hand side parsed once
per process.

Every ALFWorld game carries its own copy of the same grammar document; games differ in a line or two (the
task sentence). The stock ``textworld`` ``GameLogic`` parses every rule's right-hand side with TatSu again
for every game: most of a new game's load. :func:`parse_game_logic` builds the same ``GameLogic`` (same
actions, same rules in the same order, same conditions and weights), but looks each right-hand side text up
in a process-wide memo and hands out fresh symbol copies, so a new game costs only the document parse.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

import textworld
from textworld.envs.pddl import logic as pddl_logic
from textworld.envs.pddl.textgen import (
    ConditionalSymbol,
    ContextSensitiveGrammar,
    EvalSymbol,
    ListSymbol,
    ProductionRule,
    Symbol,
    _parse_and_convert,
)

__all__ = ["parse_game_logic", "clone_symbol", "parse_symbols", "clear_rule_memo", "RULE_MEMO_SIZE"]

#: Distinct right-hand-side texts kept parsed (ALFWorld's grammar has ~60, plus one task sentence per game).
RULE_MEMO_SIZE = 8192

_memo: OrderedDict[str, list[Symbol]] = OrderedDict()
_lock = threading.Lock()


def clone_symbol(symbol: Symbol) -> Symbol:
    """A fresh, context-free copy of a parsed symbol (what ``deepcopy`` of a parse result gives)."""
    if isinstance(symbol, ConditionalSymbol):
        return ConditionalSymbol(clone_symbol(symbol.expression), symbol.given)
    if isinstance(symbol, ListSymbol):
        return ListSymbol(clone_symbol(symbol.symbol))
    if isinstance(symbol, EvalSymbol):
        return EvalSymbol(symbol.expression)
    return type(symbol)(symbol.symbol)  # TerminalSymbol / NonterminalSymbol


def parse_symbols(text: str) -> list[Symbol]:
    """``textgen._parse_and_convert(text, rule_name="symbols")``, memoised: fresh copies of the parse."""
    with _lock:
        prototypes = _memo.get(text)
        if prototypes is not None:
            _memo.move_to_end(text)
    if prototypes is None:
        prototypes = _parse_and_convert(text, rule_name="symbols")
        with _lock:
            _memo[text] = prototypes
            while len(_memo) > RULE_MEMO_SIZE:
                _memo.popitem(last=False)
    return [clone_symbol(s) for s in prototypes]


def clear_rule_memo() -> None:
    """Forget every memoised right-hand side."""
    with _lock:
        _memo.clear()


def _grammar_from_json(text: str) -> ContextSensitiveGrammar:
    """``ContextSensitiveGrammar.parse(text)`` with memoised right-hand sides (same rules, same order)."""
    grammar = ContextSensitiveGrammar()
    for name, rules in json.loads(text).items():
        for rule in rules:
            grammar.add_rule(ProductionRule(lhs=name, rhs=parse_symbols(rule["rhs"]), weight=rule.get("weight", 1),
                                            condition=rule.get("condition", "")))
    return grammar


class _Converter(pddl_logic._ModelConverter):
    """textworld's model converter, building the document's grammar with :func:`_grammar_from_json`."""

    def walk_PddlDocumentNode(self, node):
        actions, grammar = {}, {}
        for part in node.parts:
            if isinstance(part, textworld.envs.pddl.logic.model.ActionTypeNode):
                action = self.walk(part)
                actions[action.name.lower()] = action
                grammar_data = "\n".join(line for line in action.grammar.split("\n")
                                         if not line.lstrip().startswith("#"))
                grammar.update(json.loads(grammar_data))
            elif isinstance(part, textworld.envs.pddl.logic.model.ActionGrammarNode):
                grammar.update(json.loads(self._unescape_block(part.code)))
        return actions, _grammar_from_json(json.dumps(grammar))


def parse_game_logic(domain: str, grammar: str) -> pddl_logic.GameLogic:
    """``textworld``'s ``GameLogic(domain, grammar)``, built with memoised rule parses (same content)."""
    logic = pddl_logic.GameLogic.__new__(pddl_logic.GameLogic)
    logic.domain = domain
    logic.grammar = ContextSensitiveGrammar()
    logic.actions = {}
    logic.types = textworld.logic.TypeHierarchy()
    actions, parsed = _Converter().walk(pddl_logic._PARSER.parse(grammar, rule_name="pddlStart"))
    logic.actions.update(actions)
    logic.grammar.update(parsed)
    return logic
