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
        "`verify` replays a result file locally; `import` seeds a server's database from verified files. "
        "Each env has a paper track (the benchmark setting) and a laptop track (what `spear-bench run` "
        "evaluates by default); a result must hold the track's whole evaluation list. Result files come from `spear-bench eval --out` (the expert "
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
                   help="import MODULE before serving, to register extra envs and settings (repeatable)")
    s.add_argument("--replay-max-tool-calls", type=int, default=5000,
                   help="replay budget: tool calls per submission (default 5000)")
    s.add_argument("--replay-max-sandbox-seconds", type=float, default=600.0,
                   help="replay budget: seconds of tool-calling env steps per submission (default 600)")
    s.add_argument("--replay-tool-timeout", type=float, default=2.0,
                   help="time-out of each tool call during replay, seconds (default 2; outputs never change rewards)")
    s.add_argument("--max-pending", type=int, default=3,
                   help="submissions one token may have waiting for verification (default 3)")
    s.add_argument("--max-per-hour", type=int, default=20, help="submissions per token per hour (default 20)")
    s.set_defaults(func=run_serve)

    i = lsub.add_parser("import", help="seed a server database from verified result files",
                        description="Verify every RESULT.json in DIR by replay (as the server does) and store "
                        "the ones that pass in the database, so a fresh server shows the repository's tables. "
                        "Files already stored (same evidence) are skipped; a file that fails is reported and "
                        "not stored. Exit status 1 if any failed.")
    i.add_argument("dir", metavar="DIR", help="folder of result files, e.g. leaderboards/submissions/")
    i.add_argument("--db", required=True, help="SQLite database file (created if absent)")
    i.set_defaults(func=run_import)

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
    v.add_argument("--same-episodes", action="store_true",
                   help="with --add: the result played exactly the episodes of a published file (another method "
                        "whose runs came out identical); copy it into submissions/same-episodes/, where the "
                        "tables list it as its own row beside that one")
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

    from spear_train.leaderboard.verify import ReplayBudget

    for name in ("replay_max_tool_calls", "replay_max_sandbox_seconds", "replay_tool_timeout", "max_pending", "max_per_hour"):
        if getattr(args, name) <= 0:
            raise CliError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    budget = ReplayBudget(args.replay_max_tool_calls, args.replay_max_sandbox_seconds, args.replay_tool_timeout)
    try:
        serve(args.db, args.host, args.port, max_body_bytes=int(args.max_body_mb * 1024 * 1024), on_ready=ready,
              budget=budget, max_pending=args.max_pending, max_per_window=args.max_per_hour)
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
        written = render_all(folder / "submissions", folder, verify=not args.no_verify,
                             progress=lambda line: print(line, flush=True))
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
    from spear_train.leaderboard.render import DuplicateEvidence, RenderError, add_same_episodes, add_to_repository
    from spear_train.leaderboard.verify import Rejection, verify_result

    import spear_envs  # noqa: F401

    if args.same_episodes and not args.add:
        raise CliError("--same-episodes goes with --add")
    try:
        result, _ = load_result(args.result)
        verification = verify_result(result)
    except SubmitError as exc:
        raise CliError(str(exc)) from None
    except Rejection as rej:
        raise CliError("\n".join([f"rejected ({rej.reason}): {rej.message}"] + [f"  - {d}" for d in rej.details])) from None
    m = verification.metrics
    print(f"verified {verification.episodes} episodes on the {verification.setting.track} track "
          f"({verification.setting.key}): success {m.success_mean:.4f}, return {m.score_mean:.4f}"
          + (f", graded score {verification.graded_score[0]:.4f}" if verification.graded_score else ""))
    if args.add:
        folder = Path(args.dir) / "submissions"
        try:
            path = add_same_episodes(result, folder) if args.same_episodes else add_to_repository(result, folder)
        except DuplicateEvidence as exc:
            raise CliError(f"not added: {exc}; if another method's runs played these very episodes, "
                           "add it with --same-episodes") from None
        except RenderError as exc:
            raise CliError(f"not added: {exc}") from None
        print(f"wrote {path}")
    return 0



def run_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spear_train.cli import CliError
    from spear_train.leaderboard.db import DatabaseError
    from spear_train.leaderboard.importer import import_folder

    import spear_envs  # noqa: F401

    if not Path(args.dir).is_dir():
        raise CliError(f"{args.dir} is not a folder of result files")
    try:
        outcomes = import_folder(args.dir, args.db, progress=lambda line: print(line, flush=True))
    except DatabaseError as exc:
        raise CliError(str(exc)) from None
    counts = {k: sum(1 for o in outcomes if o.status == k) for k in ("imported", "present", "failed")}
    print(f"{counts['imported']} imported, {counts['present']} already present, {counts['failed']} failed "
          f"(database {args.db})")
    return 1 if counts["failed"] else 0
