"""``spear-bench compare``: before/after success of run folders, per run and mean ± SE across seeds."""

from __future__ import annotations

import argparse

EXAMPLES = """\
examples:
  spear-bench compare runs/grpo-alfworld-seed0 runs/spear-alfworld-seed0
  spear-bench compare runs                       # every run folder inside runs/
  spear-bench compare runs/*-alfworld-seed* --out cmp --json
writes <out>/compare.json (every number below, plus each run's eval curve) and <out>/compare_curves.png
(every run's held-out success against step, one colour per algo/env).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare run folders: before/after success ± SE per run and across seeds, curves PNG",
        description="Read the run folders that spear-bench run wrote and print, per run, held-out success "
        "before training (step 0) and after (last evaluation) with standard errors and the paired gain; "
        "then per (algo, env) the mean ± standard error across seeds. RUN is a run folder or a folder of "
        "run folders.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folder(s), or folder(s) holding run folders")
    p.add_argument("--out", default="compare", metavar="DIR",
                   help="folder for compare.json and compare_curves.png")
    p.add_argument("--json", action="store_true", help="print the summary JSON instead of the table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from spear_train.cli import CliError
    from spear_train.training.compare import CompareError, compare_runs

    try:
        summary = compare_runs(args.runs, args.out)
    except CompareError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(summary))
    else:
        print(summary["table"])
        print(f"\nwrote {args.out}/compare.json and {summary['curves_png']}")
    return 0
