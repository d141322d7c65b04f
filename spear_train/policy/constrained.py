"""Admissible-constrained decoding: the response may only be one of the env's admissible actions.

Each admissible action ``a`` is rendered as ``template.format(action=a)`` (default
``<think></think><action>{action}</action>``, the reply format the tiny policies are trained on and a format-valid
reply, docs/rollouts.md 'Action parsing (format validity)'), encoded without special tokens and followed by the
stop token. The token sequences form a trie; at every decoding step the logits of tokens that leave the trie are
set to ``-inf``. The model therefore chooses among admissible actions, token by token.
A turn is constrained only when its admissible actions can be enumerated: an empty list, or one that holds a
template action such as WebShop's ``search[<query>]`` (whose argument is free text), leaves the turn free
(:func:`admissible_trie` returns ``None``). The rollout's model agent makes one exception
(:func:`spear_train.policy.search_queries.turn_trie`): a WebShop search turn's query is a word prefix of the
task. WebShop's click turns are constrained to the page's clickables.

Which distribution the log-probs are from: the *masked, renormalised* distribution (the one actually
sampled from). A trainer that recomputes log-probs without the mask gets a different number for the same
tokens; :attr:`~spear_train.policy.generation.GenerationBatch.distribution` says which one was stored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from transformers import LogitsProcessor

DEFAULT_TEMPLATE = "<think></think><action>{action}</action>"

#: An admissible action whose argument is a placeholder, e.g. ``search[<query>]``; group 1 is the verb.
TEMPLATE_ACTION = re.compile(r"^(\w+)\[<[^>]*>\]$")


def is_template_action(action: str) -> bool:
    """True for a placeholder action such as ``search[<query>]`` (the agent must fill in the argument)."""
    return TEMPLATE_ACTION.match(action) is not None


class TokenTrie:
    """A prefix tree over token-id sequences."""

    def __init__(self, sequences: Sequence[Sequence[int]]):
        if not sequences:
            raise ValueError("a TokenTrie needs at least one sequence")
        self._root: dict[int, dict] = {}
        for seq in sequences:
            node = self._root
            for tok in seq:
                node = node.setdefault(int(tok), {})

    @property
    def root(self) -> dict[int, dict]:
        """The root node: ``{token id: child node}`` (a leaf is ``{}``); read-only by convention."""
        return self._root

    def allowed(self, prefix: Sequence[int]) -> list[int] | None:
        """Token ids that may follow ``prefix``; ``[]`` at the end of a sequence; ``None`` off the trie."""
        node = self._root
        for tok in prefix:
            node = node.get(int(tok))
            if node is None:
                return None
        return list(node)


def action_token_sequences(tokenizer, actions: Sequence[str], stop_id: int,
                           template: str = DEFAULT_TEMPLATE) -> list[list[int]]:
    """The token sequence of each admissible action's full response (template encoding + ``stop_id``)."""
    return [tokenizer.encode(template.format(action=a), add_special_tokens=False) + [stop_id] for a in actions]


def admissible_trie(tokenizer, actions: Sequence[str] | None, stop_id: int,
                    template: str = DEFAULT_TEMPLATE) -> TokenTrie | None:
    """The trie constraining one turn to ``actions``, or ``None`` (decode freely) when the list is empty
    or holds a template action (its free-text argument cannot be enumerated)."""
    if not actions or any(is_template_action(a) for a in actions):
        return None
    return TokenTrie(action_token_sequences(tokenizer, actions, stop_id, template))


class TrieConstraint(LogitsProcessor):
    """Masks each batch row's logits to its trie (rows with ``None`` are left free).

    ``prompt_length`` is the padded prompt length (left padding: every row's response starts there).
    A row that has completed its sequence (or left its trie, which masking prevents) may only emit
    ``fallback_id`` (the pad/stop token), so a row never has every logit at ``-inf``.
    """

    def __init__(self, tries: Sequence[TokenTrie | None], prompt_length: int, fallback_id: int):
        self.tries = list(tries)
        self.prompt_length = prompt_length
        self.fallback_id = fallback_id

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        mask = torch.zeros_like(scores, dtype=torch.bool)
        for row, trie in enumerate(self.tries):
            if trie is None:
                mask[row] = True
                continue
            allowed = trie.allowed(input_ids[row, self.prompt_length:].tolist()) or [self.fallback_id]
            mask[row, allowed] = True
        return scores.masked_fill(~mask, float("-inf"))
