"""The training loop behind ``spear-bench run`` and ``spear-bench eval``.

``loop.py`` (every seed of a run), ``trainer.py`` (the one training step every preset runs, as named phases,
docs/algorithms.md 'Training step order'; its batch: ``step_batch.py``, ``step_values.py``, ``train_batch.py``),
``update.py`` (mini-batch AdamW passes with micro-batch accumulation; on-policy and SPEAR replay), ``logprobs.py``,
``evaluation.py``,
``run_config.py`` (preset < env defaults < YAML < flags), ``checkpoint.py`` (atomic, verified, resumable),
``run_dir.py`` (metrics.jsonl, TensorBoard, learning curve, result.json), ``progress.py``.
"""
