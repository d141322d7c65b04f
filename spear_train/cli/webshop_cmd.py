"""``spear-bench webshop serve``: play WebShop in a browser (one session per visitor)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("webshop", help="WebShop tools (serve the shop as a web page)",
                       description="WebShop tools. `spear-bench webshop serve` serves the env's shop as a web "
                       "page a person can play: search, open items, pick options, buy and see the score.")
    wsub = p.add_subparsers(dest="webshop_command", metavar="SUBCOMMAND", required=True)
    s = wsub.add_parser("serve", help="serve the shop on http://HOST:PORT",
                        description="Serve the WebShop site. Loopback only by default; pass --host 0.0.0.0 to "
                        "expose it on your network (no authentication: do that only on a trusted network).")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    s.add_argument("--port", type=int, default=3000, help="port (default: 3000)")
    s.add_argument("--data-dir", default=None,
                   help="folder with upstream WebShop files (default: $SPEAR_WEBSHOP_DATA or the generated catalog)")
    s.add_argument("--n-products", type=int, default=1000, help="size of the generated catalog (default: 1000)")
    s.add_argument("--catalog-seed", type=int, default=0, help="seed of the generated catalog (default: 0)")
    s.add_argument("--goals", choices=("synthetic", "human"), default="synthetic", help="goal kind (default: synthetic)")
    s.add_argument("--split", choices=("train", "eval", "test"), default="test", help="goal split (default: test)")
    s.add_argument("--show-attrs", action="store_true", help="add the Attributes sub-page to item pages")
    s.add_argument("--seed", type=int, default=None, help="seed for the goals handed to new sessions (default: fresh randomness each start)")
    s.set_defaults(func=serve)


def serve(args: argparse.Namespace) -> int:
    from spear_train.cli import CliError

    if not 0 < args.port < 65536:
        raise CliError(f"--port must be in 1..65535, got {args.port}")
    if args.n_products < 10:
        raise CliError(f"--n-products must be at least 10, got {args.n_products}")
    from werkzeug.serving import run_simple

    from spear_envs.webshop.real_data import DataFileError
    from spear_envs.webshop.web.app import create_app

    print("[webshop] loading the catalog (first run builds it and its search index)...", flush=True)
    try:
        app = create_app(data_dir=args.data_dir, n_products=args.n_products, catalog_seed=args.catalog_seed,
                         goals=args.goals, split=args.split, show_attrs=args.show_attrs, seed=args.seed)
    except (DataFileError, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(f"[webshop] open http://{args.host}:{args.port}/ (Ctrl-C to stop)", flush=True)
    try:
        run_simple(args.host, args.port, app, threaded=True)
    except OSError as exc:
        raise CliError(f"cannot serve on {args.host}:{args.port}: {exc}") from None
    return 0
