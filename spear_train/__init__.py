"""spear-bench trainer: algorithms (GRPO, GiGPO, Dr.BoT, SPEAR), policies, rollouts and the training loop."""

__version__ = "0.1.0"
