"""The WebShop site for people: a Flask app serving the env's page model as HTML.

Each visitor gets their own session (a :class:`~spear_envs.webshop.pages.Shop` with its own goal),
remembered by a cookie; every session shares the process's one catalog and search index. Clicking a
button posts the same ``click[...]`` action the env takes; the search box posts ``search[...]``;
``buy now`` shows the score. Sessions are kept in memory (the oldest are dropped past ``max_sessions``).

Routes: ``/`` (your session, or a new one), ``/new`` (a new session and goal; ``?goal=N`` picks goal N of
the split), ``/s/<id>`` (the current page), ``POST /s/<id>/act`` and ``POST /s/<id>/search``.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
from flask import Flask, abort, make_response, redirect, request

from spear_envs.webshop.catalog import CatalogSource, default_data_dir, get_catalog
from spear_envs.webshop.goal_generator import SPLITS
from spear_envs.webshop.nouns import get_noun_extractor
from spear_envs.webshop.pages import InvalidAction, Shop, render_html

COOKIE = "webshop_session"


def create_app(*, data_dir: str | None = None, n_products: int = 1000, catalog_seed: int = 0,
               goals: str = "synthetic", split: str = "test", noun_extractor: str = "heuristic",
               show_attrs: bool = False, max_sessions: int = 1000, seed: int | None = None) -> Flask:
    """Build the app. Arguments mean what they mean for :class:`~spear_envs.webshop.env.WebShopEnv`;
    ``seed`` makes the goals handed to new sessions reproducible."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    catalog = get_catalog(CatalogSource(data_dir or default_data_dir(), n_products, catalog_seed))
    goal_set = catalog.goals(goals, split)
    if len(goal_set) == 0:
        raise ValueError(f"the {split} split has no {goals} goals for this catalog")
    nouns = get_noun_extractor(noun_extractor)
    _ = catalog.search  # build or load the index before the first visitor
    rng = np.random.default_rng(seed)
    sessions: OrderedDict[str, Shop] = OrderedDict()
    lock = threading.Lock()
    app = Flask(__name__)

    def new_session(goal_index: int | None) -> str:
        with lock:
            index = goal_set.sample(rng) if goal_index is None else goal_index
            sid = secrets.token_urlsafe(12)
            sessions[sid] = Shop(catalog, goal_set[index], nouns, show_attrs=show_attrs)
            while len(sessions) > max_sessions:
                sessions.popitem(last=False)
            return sid

    def shop_of(sid: str) -> Shop:
        shop = sessions.get(sid)
        if shop is None:
            abort(404, description=f"unknown or expired session {sid!r}: open / to start a new one")
        return shop

    def page(sid: str, shop: Shop, message: str | None = None, status: int = 200):
        html = render_html(shop.nodes(), session=sid, base="", page=shop.state.page, message=message)
        resp = make_response(html, status)
        resp.set_cookie(COOKIE, sid, httponly=True, samesite="Lax")
        return resp

    def act(sid: str, action: str):
        shop = shop_of(sid)
        with lock:
            try:
                shop.step(action)
            except InvalidAction as exc:
                return page(sid, shop, f"Not accepted: {exc}", 400)
        return redirect(f"/s/{sid}", code=303)

    @app.get("/")
    def index():
        sid = request.cookies.get(COOKIE)
        if sid in sessions:
            return redirect(f"/s/{sid}", code=303)
        return redirect("/new", code=303)

    @app.get("/new")
    def new():
        raw = request.args.get("goal")
        goal_index = None
        if raw is not None:
            if not raw.isdigit() or int(raw) >= len(goal_set):
                abort(400, description=f"goal must be an integer in [0, {len(goal_set)}), got {raw!r}")
            goal_index = int(raw)
        sid = new_session(goal_index)
        resp = redirect(f"/s/{sid}", code=303)
        resp.set_cookie(COOKIE, sid, httponly=True, samesite="Lax")
        return resp

    @app.get("/s/<sid>")
    def show(sid: str):
        return page(sid, shop_of(sid))

    @app.post("/s/<sid>/act")
    def click(sid: str):
        action = request.form.get("action", "")
        if not action:
            abort(400, description="the form must carry a non-empty 'action' field, e.g. click[buy now]")
        return act(sid, action)

    @app.post("/s/<sid>/search")
    def search(sid: str):
        query = " ".join(request.form.get("query", "").split())
        if not query:
            return page(sid, shop_of(sid), "Type something to search for.", 400)
        return act(sid, f"search[{query}]")

    @app.get("/healthz")
    def health() -> dict[str, Any]:
        return {"ok": True, "products": len(catalog), "sessions": len(sessions)}

    app.config["WEBSHOP_SESSIONS"] = sessions
    return app
