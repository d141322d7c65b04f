"""``spear-bench leaderboard``: run the submission server, manage tokens, render the repository tables."""

from __future__ import annotations

import argparse
import importlib
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "leaderboard",
        help="serve the replay-verified leaderboard, manage tokens, render leaderboards/*.md",
        description="Leaderboard tools. `serve` runs the submission server (Flask + SQLite); `add-token` creates "
        "a submission token; `render` rebuilds leaderboards/<env>.md from leaderboards/submissions/*.json; "
        "`verify` replays a result file locally. Result files come from `spear-bench eval --out` (the expert "
        "and random reference rows too: `spear-bench eval --agent expert|random --scale paper --out FILE`) "
        "or `spear-bench run`.",
    )
    lsub = p.add_subparsers(dest="leaderboard_command", metavar="ACTION", required=True)

    s = lsub.add_parser("serve", help="run the submission server",
                        description="Serve the leaderboard API and pages. Submissions are replayed before storage.")
    s.add_argument("--db", required=True, help="SQLite database file (created if absent)")
    s.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    s.add_argument("--max-body-mb", type=float, default=32.0, help="largest accepted request body in MiB (default 32)")
    s.add_argument("--env-module", action="append", default=[], metavar="MODULE",
                   help="import MODULE before serving, to register extra envs (repeatable)")
    s.set_defaults(func=run_serve)

    t = lsub.add_parser("add-token", help="create a submission token (printed once)",
                        description="Create a token for NAME; only its SHA-256 is stored, so keep the printed value.")
    t.add_argument("name", help="who the token is for (unique)")
    t.add_argument("--db", required=True, help="SQLite database file (created if absent)")
    t.set_defaults(func=run_add_token)

    r = lsub.add_parser("render", help="regenerate leaderboards/<env>.md from leaderboards/submissions/*.json",
                        description="Re-verify every submission file by replay and rewrite one Markdown table per env.")
    r.add_argument("--dir", default="leaderboards", help="leaderboards folder (default: ./leaderboards)")
    r.add_argument("--no-verify", action="store_true", help="skip the replay check (rows show 'not re-verified')")
    r.set_defaults(func=run_render)

    v = lsub.add_parser("verify", help="replay a result file locally and report whether a server would accept it")
    v.add_argument("result", metavar="RESULT.json")
    v.add_argument("--add", action="store_true", help="if it verifies, copy it into leaderboards/submissions/")
    v.add_argument("--dir", default="leaderboards", help="leaderboards folder for --add (default: ./leaderboards)")
    v.set_defaults(func=run_verify)


def run_serve(args: argparse.Namespace) -> int:
    from spear_train.cli import CliError
    from spear_train.leaderboard.db import DatabaseError
    from spear_train.leaderboard.server import serve

    import spear_envs  # noqa: F401 - registers the benchmark envs

    for module in args.env_module:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise CliError(f"--env-module {module}: {exc}") from None
    if not 0 <= args.port <= 65535:
        raise CliError(f"--port must be in 0..65535, got {args.port}")

    def ready(url: str) -> None:
        print(f"spear-bench leaderboard: serving {url} (database {args.db}); Ctrl-C or SIGTERM stops", flush=True)

    try:
        serve(args.db, args.host, args.port, max_body_bytes=int(args.max_body_mb * 1024 * 1024), on_ready=ready)
    except DatabaseError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return 0


def run_add_token(args: argparse.Namespace) -> int:
    from spear_train.cli import CliError
    from spear_train.leaderboard.db import DatabaseError, LeaderboardDB

    try:
        token = LeaderboardDB(args.db).add_token(args.name)
    except (DatabaseError, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(token)
    print(f"token for {args.name!r} stored (hashed) in {args.db}; it is shown only once", file=sys.stderr)
    return 0


def run_render(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spear_train.cli import CliError
    from spear_train.leaderboard.render import RenderError, render_all

    import spear_envs  # noqa: F401

    folder = Path(args.dir)
    if not (folder / "submissions").is_dir():
        raise CliError(f"{folder / 'submissions'} does not exist (run from the repository root or pass --dir)")
    try:
        written = render_all(folder / "submissions", folder, verify=not args.no_verify)
    except RenderError as exc:
        raise CliError(str(exc)) from None
    for path in written:
        print(f"wrote {path}")
    if not written:
        print("no submissions found; nothing written")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spear_train.cli import CliError
    from spear_train.leaderboard.client import SubmitError, load_result
    from spear_train.leaderboard.render import add_to_repository
    from spear_train.leaderboard.verify import Rejection, verify_result

    import spear_envs  # noqa: F401

    try:
        result, _ = load_result(args.result)
        verification = verify_result(result)
    except SubmitError as exc:
        raise CliError(str(exc)) from None
    except Rejection as rej:
        raise CliError("\n".join([f"rejected ({rej.reason}): {rej.message}"] + [f"  - {d}" for d in rej.details])) from None
    m = verification.metrics
    print(f"verified {verification.episodes} episodes: success {m.success_mean:.4f}, score {m.score_mean:.4f}")
    if args.add:
        print(f"wrote {add_to_repository(result, Path(args.dir) / 'submissions')}")
    return 0

