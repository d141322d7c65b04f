"""``spear-bench submit``: send a result file to a leaderboard server."""

from __future__ import annotations

import argparse
import json
import os


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "submit",
        help="submit a result JSON to a leaderboard server (verified there by replay)",
        description="Validate RESULT.json locally, then POST it to a spear-bench leaderboard server and wait for "
        "the verdict. The server checks the episodes are the benchmark's evaluation list, queues the result, "
        "replays every recorded episode, and accepts it only if the rewards and the claimed metrics match. "
        "Prints the status while waiting, then the URL of the new row or the rejection with its reason.",
    )
    p.add_argument("result", metavar="RESULT.json", help="a result written by `spear-bench run`/`eval`")
    p.add_argument("--server", required=True, help="base URL of the server, e.g. http://127.0.0.1:8080")
    p.add_argument("--token", default=os.environ.get("SPEAR_BENCH_TOKEN", ""),
                   help="submission token (default: $SPEAR_BENCH_TOKEN)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the verdict (default 600)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spear_train.cli import CliError
    from spear_train.leaderboard.client import SubmitError, submit

    def status(job: dict) -> None:
        print(f"job #{job['job']}: {job['status']}", flush=True)

    try:
        answer = submit(args.result, args.server, args.token, timeout=args.timeout, on_status=status)
    except SubmitError as exc:
        raise CliError(str(exc)) from None
    print(f"accepted as #{answer['id']} on the {answer.get('track')} track: {answer['url']}")
    print(f"verified success {answer.get('success_mean', float('nan')):.4f}, "
          f"return {answer.get('score_mean', float('nan')):.4f}")
    print(json.dumps({"id": answer["id"], "job": answer["job"], "url": answer["url"]}))
    return 0
