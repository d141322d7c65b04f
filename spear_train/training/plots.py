"""Shared look of the success plots (a run's ``learning_curve.png``, ``spear-bench compare``'s curves).

Success is drawn in percent on a fixed 0-100 axis, so curves of different runs read alike, and the step
axis has integer ticks only (a training step is a whole number).
"""

from __future__ import annotations


def pyplot():
    """matplotlib's pyplot on the headless Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def style_success_axes(ax) -> None:
    """Label ``ax`` as success (%) against training step: y from 0 to 100, integer x ticks."""
    from matplotlib.ticker import MaxNLocator

    ax.set_ylim(0, 100)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training step")
    ax.set_ylabel("success (%)")


def save_figure(fig, path) -> None:
    """Write ``fig`` to ``path`` atomically (tmp + rename) and close it."""
    from pathlib import Path

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.tight_layout()
    fig.savefig(tmp, dpi=100)
    pyplot().close(fig)
    tmp.replace(path)
