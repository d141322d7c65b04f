"""The built-in expert sources: which expert plays which env's generated tasks (issue 12 item 3).

Importing this module registers one :class:`~spear_train.sft.data.ExpertSource` per env whose expert
is available (``spear_train.sft.data.expert_source`` imports it on first use). A source builds its env
with ``gym.make`` for the ``train`` or ``eval`` split of generated tasks and wraps the env's own
expert as ``(observation, info) -> action``:

* ``spear/ALFWorld-v0``: the handcoded expert with the move fix (MODELS.md §1);
* ``spear/WebShop-v0``: the scripted buyer;
* ``spear/MathTool-v0``: the scripted solver.

An env without a registered source makes ``spear-bench sft --env ENV`` fail with a message listing
the envs that have one.
"""

from __future__ import annotations
