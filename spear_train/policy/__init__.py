"""The policy: loading (``loading.py``) and generation (``generation.py``)."""

from spear_train.policy.loading import Policy, PolicyLoadError, load_policy

__all__ = ["Policy", "PolicyLoadError", "load_policy"]
