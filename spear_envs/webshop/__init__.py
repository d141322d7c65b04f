"""spear/WebShop-v0: a zero-download, pure-Python WebShop (Yao et al. 2022) with the faithful reward.

Modules, by job:

* ``taxonomy.py`` / ``catalog_generator.py``: the deterministic catalog generator (upstream file format).
* ``real_data.py``: finding, verifying (pinned sizes/hashes) and streaming data files.
* ``catalog.py``: the loaded catalog (products, goals, search), one per data source per process.
* ``goal_generator.py``: goals by upstream's rules and the fixed, disjoint train/eval/test splits.
* ``search.py``: Lucene-like BM25 (bm25s), cached on disk.
* ``pages.py``: the site's page model and its text / text_rich / HTML renderings.
* ``reward.py`` / ``nouns.py``: the faithful reward and its pluggable noun extractor.
* ``env.py``: the Gymnasium env; ``scripted_buyer.py``: the expert policy; ``web/``: the Flask site
  (``spear-bench webshop serve``).
"""
