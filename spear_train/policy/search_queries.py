"""The search turn under constrained decoding: a WebShop query is a word prefix of the task.

:func:`~spear_train.policy.constrained.admissible_trie` leaves a turn free when its admissible actions hold
a template such as ``search[<query>]``, whose argument cannot be enumerated. On a turn that carries its
task text, :func:`turn_trie` enumerates a search template instead: one ``search[q]`` per word prefix ``q``
of the task (:func:`task_prefix_queries`). The policy still chooses how much of the instruction to search
for (and its probabilities are the masked, renormalised ones, as on click turns), but it cannot write
words the task does not hold. Why: the 1M-parameter WebShop policy, decoding freely, wrote
instruction-like queries of its own instead of copying the task (docs/models.md, 'History').
"""

from __future__ import annotations

from collections.abc import Sequence

from spear_train.policy.constrained import DEFAULT_TEMPLATE, TEMPLATE_ACTION, TokenTrie, admissible_trie


def task_prefix_queries(task: str) -> list[str]:
    """Every word prefix of ``task`` (split on whitespace), without trailing ``,;:.`` punctuation, in order and
    without repeats: ``"Find me tea, and price"`` gives ``["Find", "Find me", "Find me tea", "Find me tea, and",
    "Find me tea, and price"]``."""
    words, queries = task.split(), []
    for k in range(1, len(words) + 1):
        query = " ".join(words[:k]).rstrip(",;:.")
        if query and query not in queries:
            queries.append(query)
    return queries


def turn_trie(tokenizer, actions: Sequence[str] | None, stop_id: int, template: str = DEFAULT_TEMPLATE,
              task: str | None = None) -> TokenTrie | None:
    """:func:`~spear_train.policy.constrained.admissible_trie` for one turn, except that with ``task`` given a
    ``search[<...>]`` template becomes one ``search[q]`` per word prefix ``q`` of the task, beside the turn's
    other actions (a template other than ``search``, or no task, leaves the turn free as before)."""
    templates = [a for a in actions or [] if TEMPLATE_ACTION.match(a)]
    if task and templates and all(TEMPLATE_ACTION.match(a).group(1) == "search" for a in templates):
        queries = task_prefix_queries(task)
        if queries:
            actions = [a for a in actions if a not in templates] + [f"search[{q}]" for q in queries]
    return admissible_trie(tokenizer, actions, stop_id, template)
