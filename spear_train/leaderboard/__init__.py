"""The replay-verified leaderboard: result schema, verification, SQLite store, web server, client, tables.

* :mod:`.schema`   -- the versioned result document and :func:`build_result` (what runs write).
* :mod:`.evaluate` -- :func:`evaluate_agent`: any callable agent (bring your own) -> result.
* :mod:`.verify`   -- :func:`verify_result`: replays every episode and recomputes the metrics.
* :mod:`.db`       -- SQLite store (migrations, hashed tokens, unique content hashes).
* :mod:`.server`   -- Flask app factory and ``serve``; :mod:`.client` -- ``submit``.
* :mod:`.render`   -- ``leaderboards/<env>.md`` from ``leaderboards/submissions/*.json``.

Submodules are imported on use so that ``import spear_train.leaderboard`` stays light.
"""
