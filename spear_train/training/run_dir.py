"""The run directory and its logs.

``<out>/<algo>-<env>-seed<S>/`` holds::

    config.yaml          resolved config (RunConfig fields + the full algorithm config)
    metrics.jsonl        one JSON object per training step (and one per evaluation, "kind": "eval")
    tb/                  TensorBoard event files (same scalars)
    checkpoints/         see checkpoint.py
    learning_curve.png   eval success (± SE) and mean training reward per step, redrawn at each eval
    eval/step_<N>.jsonl  the evaluation's per-episode records (env episode recorder)
    result.json          written once, at the end of a finished run

Ownership: :class:`RunDir` is the only writer of these files. A fresh run refuses a folder that already
holds metrics (so earlier results are never overwritten); a resumed run first drops the metric lines
logged after the checkpoint it resumes from (they are recomputed identically), by atomic rewrite.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


class RunDirError(RuntimeError):
    """The run folder cannot be used as asked (e.g. a fresh run into a folder that holds results)."""


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


class RunDir:
    """Paths and writers of one run's folder (one seed)."""

    def __init__(self, path: str | Path, *, resume: bool, tensorboard: bool = True):
        self.path = Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirError(f"cannot create the run folder {self.path}: {exc.strerror or exc}") from None
        if not resume and (self.metrics_path.exists() or self.checkpoints.exists()):
            raise RunDirError(
                f"{self.path} already holds a run; pass --resume to continue it, or choose another --out"
            )
        self._tb_enabled = tensorboard
        self._tb = None

    # ------------------------------------------------------------------ paths
    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def curve_path(self) -> Path:
        return self.path / "learning_curve.png"

    @property
    def result_path(self) -> Path:
        return self.path / "result.json"

    def eval_records_path(self, step: int) -> Path:
        (self.path / "eval").mkdir(exist_ok=True)
        return self.path / "eval" / f"step_{step:06d}.jsonl"

    # ------------------------------------------------------------------ metrics
    def read_metrics(self) -> list[dict[str, Any]]:
        """All logged lines; a torn last line (killed mid-write) is ignored."""
        if not self.metrics_path.exists():
            return []
        rows = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break
        return rows

    def truncate_metrics_after(self, step: int) -> None:
        """Keep only metric lines of steps <= ``step`` (a resumed run recomputes the rest)."""
        kept = [r for r in self.read_metrics() if r.get("step", 0) <= step]
        _atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept))

    def log(self, row: dict[str, Any]) -> None:
        """Append one metrics line (flushed and fsynced) and mirror its numbers to TensorBoard."""
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(row, allow_nan=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        writer = self._writer()
        if writer is not None:
            prefix = "eval" if row.get("kind") == "eval" else "train"
            for key, value in row.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "step":
                    writer.add_scalar(f"{prefix}/{key}", value, row["step"])
            writer.flush()

    def _writer(self):
        if self._tb is None and self._tb_enabled:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.path / "tb"))
        return self._tb

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    # ------------------------------------------------------------------ plot and result
    def plot_learning_curve(self, title: str) -> None:
        """Redraw ``learning_curve.png`` from metrics.jsonl: eval success ± SE (0-100 %), training reward."""
        from spear_train.training.plots import pyplot, save_figure, style_success_axes

        plt = pyplot()
        rows = self.read_metrics()
        evals = [r for r in rows if r.get("kind") == "eval"]
        train = [r for r in rows if r.get("kind") == "train"]
        fig, ax = plt.subplots(figsize=(7, 4))
        if evals:
            xs = [r["step"] for r in evals]
            ys = [100 * r["success"] for r in evals]
            es = [100 * r["success_se"] for r in evals]
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label="eval success (%) ± SE")
        style_success_axes(ax)
        if train:
            ax2 = ax.twinx()
            ax2.plot([r["step"] for r in train], [r["reward_mean"] for r in train], color="tab:orange",
                     alpha=0.6, label="train episode reward")
            ax2.set_ylabel("mean episode reward")
            ax2.legend(loc="lower right")
        ax.legend(loc="upper left")
        ax.set_title(title)
        save_figure(fig, self.curve_path)

    def write_result(self, result: dict[str, Any]) -> None:
        _atomic_write_text(self.result_path, json.dumps(result, indent=2, default=_json_default))


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
