"""The training loop behind ``spear-bench run`` and ``spear-bench eval``.

``loop.py`` (the one loop every preset runs, docs/algorithms.md 'Training step order'), ``update.py`` (mini-batch
AdamW passes with micro-batch accumulation; on-policy and SPEAR replay), ``logprobs.py``, ``evaluation.py``,
``run_config.py`` (preset < env defaults < YAML < flags), ``checkpoint.py`` (atomic, verified, resumable),
``run_dir.py`` (metrics.jsonl, TensorBoard, learning curve, result.json), ``progress.py``.
"""
