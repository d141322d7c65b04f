"""``spear-bench envs``: list the registered environments."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "envs",
        help="list registered environments (id, version, task source, step limit)",
        description="List the Gymnasium ids that `import spear_envs` registers, with their version, "
        "where their tasks come from, and their step limit.",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spear_envs import SPEAR_ENVS

    rows = sorted(SPEAR_ENVS.values(), key=lambda e: e.env_id)
    if args.json:
        print(json.dumps([e.__dict__ for e in rows], indent=2))
        return 0
    header = ("id", "version", "steps", "task source")
    table = [header] + [(e.env_id, e.version, str(e.max_episode_steps), e.task_source) for e in rows]
    widths = [max(len(r[i]) for r in table) for i in range(3)]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3])
    if not rows:
        print("(no environments registered)")
    return 0
