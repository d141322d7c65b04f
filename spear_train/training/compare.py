"""``spear-bench compare``: before/after success of several run folders, per run and across seeds.

Each run folder (``<out>/<algo>-<env>-seed<S>/``, :mod:`spear_train.training.run_dir`) gives, from its
``config.yaml`` and the ``"kind": "eval"`` rows of ``metrics.jsonl``:

- before = the evaluation at the first evaluated step (step 0), after = the one at the last, each with
  its standard error ``sqrt(p(1-p)/N)`` over the N held-out episodes;
- gain = after - before with its paired standard error over the tasks both evaluations played
  (``std(d_i)/sqrt(n)``, ``d_i = won_after_i - won_before_i``, from ``eval/step_NNNNNN.jsonl``); when
  those records are missing, the unpaired ``sqrt(se_before^2 + se_after^2)``.

Runs of the same (algo, env) are summarised across seeds as mean ± SE, ``SE = std/sqrt(n)`` with the
sample std over the n seeds' values (0 for one seed). A run folder evaluated at a step more than once
(a resumed run) counts its last row for that step.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from spear_train.config_error import ConfigError
from spear_train.training.config_file import read_yaml
from spear_train.training.evaluation import mean_se, paired_gain


class CompareError(ValueError):
    """A folder given to compare is not a run folder, or holds no evaluation; the message names it."""


@dataclass
class RunCurve:
    """One run folder: its identity, before/after success (fractions) and its eval curve."""

    path: str
    algo: str
    env: str
    seed: int
    before: float
    before_se: float
    after: float
    after_se: float
    gain: float
    gain_se: float
    episodes: int
    steps: list[int] = field(default_factory=list)
    success: list[float] = field(default_factory=list)
    success_se: list[float] = field(default_factory=list)


def find_run_folders(paths: list[str | Path]) -> list[Path]:
    """Run folders named by ``paths``: a folder holding ``metrics.jsonl`` is one; a folder without it
    stands for the run folders directly inside it. Order kept, duplicates dropped."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            raise CompareError(f"{path}: no such folder")
        if (path / "metrics.jsonl").is_file():
            runs = [path]
        else:
            runs = sorted(p.parent for p in path.glob("*/metrics.jsonl"))
            if not runs:
                raise CompareError(f"{path}: not a run folder (no metrics.jsonl in it or in its subfolders)")
        found.extend(r for r in runs if r.resolve() not in {f.resolve() for f in found})
    return found


def read_run(path: Path) -> RunCurve:
    """Load one run folder (see the module docstring); :class:`CompareError` names what is missing."""
    try:
        config = read_yaml(path / "config.yaml")
    except ConfigError as exc:
        raise CompareError(f"{path}: {exc}") from None
    evals = _eval_rows(path / "metrics.jsonl")
    if len(evals) < 1:
        raise CompareError(f"{path}: metrics.jsonl holds no evaluation yet")
    first, last = evals[0], evals[-1]
    gain, gain_se, n = paired_gain(_jsonl(path / "eval" / f"step_{first['step']:06d}.jsonl"),
                                   _jsonl(path / "eval" / f"step_{last['step']:06d}.jsonl"))
    if n == 0:
        gain = last["success"] - first["success"]
        gain_se = math.hypot(first["success_se"], last["success_se"])
    return RunCurve(
        path=str(path), algo=str(config.get("algo", "?")), env=str(config.get("env", "?")), seed=_seed(path, config),
        before=first["success"], before_se=first["success_se"], after=last["success"], after_se=last["success_se"],
        gain=gain, gain_se=gain_se, episodes=int(last.get("episodes", 0)), steps=[r["step"] for r in evals],
        success=[r["success"] for r in evals], success_se=[r["success_se"] for r in evals],
    )


def summarise_groups(runs: list[RunCurve]) -> list[dict[str, Any]]:
    """Mean ± SE across seeds of before, after and gain, per (algo, env) in order of first appearance."""
    groups: dict[tuple[str, str], list[RunCurve]] = {}
    for run in runs:
        groups.setdefault((run.algo, run.env), []).append(run)
    out = []
    for (algo, env), members in groups.items():
        row: dict[str, Any] = {"algo": algo, "env": env, "seeds": [r.seed for r in members]}
        for key in ("before", "after", "gain"):
            row[key], row[f"{key}_se"] = mean_se([getattr(r, key) for r in members])
        out.append(row)
    return out


def format_table(runs: list[RunCurve], groups: list[dict[str, Any]]) -> str:
    """The plain-text tables (success in %): one row per run, then one per (algo, env) across seeds."""
    def pm(value: float, se: float, sign: str = "") -> str:
        return f"{100 * value:{sign}5.1f} ± {100 * se:4.1f}"

    lines = [f"{'run':<34} {'seed':>4} {'before %':>12} {'after %':>12} {'gain %':>13} {'episodes':>8}"]
    for r in runs:
        lines.append(f"{_tail(r.path, 34):<34} {r.seed:>4} {pm(r.before, r.before_se):>12} "
                     f"{pm(r.after, r.after_se):>12} {pm(r.gain, r.gain_se, '+'):>13} {r.episodes:>8}")
    lines += ["", f"{'algo / env (mean ± SE over seeds)':<34} {'seeds':>5} {'before %':>12} {'after %':>12} "
              f"{'gain %':>13}"]
    for g in groups:
        lines.append(f"{(g['algo'] + ' / ' + g['env'])[:34]:<34} {len(g['seeds']):>5} "
                     f"{pm(g['before'], g['before_se']):>12} {pm(g['after'], g['after_se']):>12} "
                     f"{pm(g['gain'], g['gain_se'], '+'):>13}")
    return "\n".join(lines)


def _tail(text: str, width: int) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3):]


def plot_curves(runs: list[RunCurve], path: Path) -> None:
    """Overlay every run's eval success (%) ± SE against step; one colour per (algo, env)."""
    from spear_train.training.plots import pyplot, save_figure, style_success_axes

    plt = pyplot()
    colours = {}
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for run in runs:
        colour = colours.setdefault((run.algo, run.env), f"C{len(colours) % 10}")
        ax.errorbar(run.steps, [100 * s for s in run.success], yerr=[100 * e for e in run.success_se],
                    marker="o", capsize=3, color=colour, alpha=0.8,
                    label=f"{run.algo} / {run.env} seed {run.seed}")
    style_success_axes(ax)
    ax.set_title("held-out success (± SE) per run")
    ax.legend(loc="best", fontsize="small")
    save_figure(fig, path)


def compare_runs(paths: list[str | Path], out: str | Path) -> dict[str, Any]:
    """Read the run folders, write ``<out>/compare.json`` and ``<out>/compare_curves.png``; return the
    summary (``runs``: per-run before/after/gain ± SE and curve, ``groups``: per (algo, env) across seeds,
    ``table``: the printed text)."""
    runs = [read_run(p) for p in find_run_folders(paths)]
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CompareError(f"--out {out}: cannot create the folder ({exc.strerror or exc})") from None
    groups = summarise_groups(runs)
    summary = {"runs": [asdict(r) for r in runs], "groups": groups, "table": format_table(runs, groups),
               "curves_png": str(out / "compare_curves.png")}
    plot_curves(runs, out / "compare_curves.png")
    tmp = out / ".compare.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    tmp.replace(out / "compare.json")
    return summary


def _eval_rows(metrics: Path) -> list[dict[str, Any]]:
    """The eval rows of metrics.jsonl, one per step (the last logged), by step."""
    by_step = {}
    for row in _jsonl(metrics):
        if row.get("kind") == "eval" and isinstance(row.get("step"), int):
            by_step[row["step"]] = row
    return [by_step[s] for s in sorted(by_step)]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file; [] when it is missing; a torn last line (an interrupted write) is skipped."""
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    rows = []
    for i, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i < len(lines) - 1:
                raise CompareError(f"{path}: line {i + 1} is not JSON") from None
    return rows


def _seed(path: Path, config: dict[str, Any]) -> int:
    match = re.search(r"seed(\d+)$", path.name)
    if match:
        return int(match.group(1))
    seeds = config.get("seeds") or [0]
    return int(seeds[0])

