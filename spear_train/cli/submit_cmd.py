"""``spear-bench submit``: send a result file to a leaderboard server."""

from __future__ import annotations

import argparse
import json
import os


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "submit",
        help="submit a result JSON to a leaderboard server (verified there by replay)",
        description="Validate RESULT.json locally, then POST it to a spear-bench leaderboard server. The server "
        "replays every recorded episode and accepts the result only if the rewards and the claimed metrics "
        "match. Every rejection is printed with its reason.",
    )
    p.add_argument("result", metavar="RESULT.json", help="a result written by `spear-bench run`/`eval`")
    p.add_argument("--server", required=True, help="base URL of the server, e.g. http://127.0.0.1:8080")
    p.add_argument("--token", default=os.environ.get("SPEAR_BENCH_TOKEN", ""),
                   help="submission token (default: $SPEAR_BENCH_TOKEN)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the server (default 600)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spear_train.cli import CliError
    from spear_train.leaderboard.client import SubmitError, submit

    try:
        answer = submit(args.result, args.server, args.token, timeout=args.timeout)
    except SubmitError as exc:
        raise CliError(str(exc)) from None
    m = answer.get("metrics", {})
    print(f"accepted as #{answer['id']}: {answer['url']}")
    print(f"verified success {m.get('success_mean', float('nan')):.4f}, score {m.get('score_mean', float('nan')):.4f}")
    print(json.dumps({"id": answer["id"], "content_hash": answer["content_hash"]}))
    return 0
