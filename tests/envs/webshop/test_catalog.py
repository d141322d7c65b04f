"""Generator, loader, goals/splits and search of the generated WebShop catalog."""

from __future__ import annotations

import itertools
import json
import shutil

import pytest

from spear_envs.webshop import real_data
from spear_envs.webshop.catalog import Catalog, CatalogSource, get_catalog, parse_pricing
from spear_envs.webshop.catalog_generator import ATTRIBUTES_FILE, PRODUCTS_FILE, generate_catalog, write_catalog
from spear_envs.webshop.goal_generator import SPLITS, option_combo, price_cap
from spear_envs.webshop.nouns import HeuristicNouns
from spear_envs.webshop.reward import compute_reward, option_matches
from spear_envs.webshop.taxonomy import PRODUCT_TYPES


def test_generator_is_byte_stable_and_writes_the_upstream_schema(tmp_path):
    a, b = write_catalog(tmp_path / "a", 60, seed=3), write_catalog(tmp_path / "b", 60, seed=3)
    for name in (PRODUCTS_FILE, ATTRIBUTES_FILE):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / PRODUCTS_FILE).read_bytes() != (write_catalog(tmp_path / "c", 60, seed=4) / PRODUCTS_FILE).read_bytes()
    products = json.loads((a / PRODUCTS_FILE).read_text())
    for key in ("name", "full_description", "pricing", "images", "product_category", "small_description",
                "customization_options", "asin", "category", "query"):
        assert all(key in p for p in products), key
    with pytest.raises(ValueError, match="n_products"):
        generate_catalog(3)


def test_generated_catalog_guarantees():
    products, attrs, human = generate_catalog(1000, seed=0)
    asins = [p["asin"] for p in products]
    assert len(set(asins)) == 1000 and all(len(a) == 10 and a.startswith("S") for a in asins)
    with_ins = [r for r in attrs.values() if "instruction" in r]
    assert 0.3 < len(with_ins) / 1000 < 0.6
    for r in with_ins:
        assert len(r["instruction_attributes"]) >= 2
        assert all(a in r["instruction"] for a in r["instruction_attributes"])
        assert set(r["instruction_attributes"]) <= set(r["attributes"])
    assert sum(1 for r in attrs.values() if not r["attributes"]) > 50  # products without attribute data
    # near-duplicates: products whose titles are equal once the brand is removed
    stripped = [p["name"].split(" ", 1)[1] for p in products]
    assert len(stripped) - len(set(stripped)) > 100
    assert human and all(h[0]["instruction_attributes"] for h in human.values())


def test_every_option_value_survives_colour_normalisation():
    for ptype in PRODUCT_TYPES:
        for name, values in ptype.options:
            for v in values:
                assert option_matches([v], [(name, v)]) == 1, (ptype.query, v)


def test_loader_derives_products_like_upstream(catalog):
    assert parse_pricing("$12.50") == ([12.5], "$12.5")
    assert parse_pricing("$45 - $60.5") == ([45.0, 60.5], "$45.0 to $60.5")
    assert parse_pricing("") == ([100.0], "$100.0")
    ranged = [catalog.product(i) for i in range(len(catalog)) if " to " in catalog.product(i).price_tag]
    assert ranged
    for p in ranged[:20]:
        lo, hi = (float(x.strip("$")) for x in p.price_tag.split(" to "))
        assert lo <= p.price <= hi
    p = next(catalog.product(i) for i in range(len(catalog)) if "grey | white" in str(catalog.product(i).options))
    assert all(v == v.lower() for vals in p.options.values() for v in vals)
    assert any(catalog.product(i).attributes == ("DUMMY_ATTR",) for i in range(len(catalog)))


def test_one_catalog_per_source_per_process(catalog):
    assert get_catalog(CatalogSource(None, 1000, 0)) is catalog
    assert catalog.search is catalog.search


def test_price_cap_rule():
    import random

    for price in (0.5, 9.99, 10.0, 39.5, 963.0):
        above = [p for p in range(10, 1000, 10) if p > price][:4]
        for s in range(20):
            upper, text = price_cap(price, random.Random(s))
            assert upper in above[1:] and text == f", and price lower than {upper:.2f} dollars"
    assert price_cap(985.0, random.Random(0)) == (1_000_000.0, "")  # only 990 is above
    options = {"size": ["8", "9"], "color": ["red", "blue", "tan"]}
    combos = [option_combo(options, k) for k in range(6)]  # itertools.product order over sorted names
    assert [(c["color"], c["size"]) for c in combos] == list(itertools.product(options["color"], options["size"]))


def test_splits_are_disjoint_by_product_and_every_goal_is_winnable(catalog):
    nouns = HeuristicNouns()
    for kind in ("synthetic", "human"):
        seen: dict[str, str] = {}
        for split in SPLITS:
            goals = catalog.goals(kind, split)
            assert len(goals) > 0, (kind, split)
            for i in range(len(goals)):
                g = goals[i]
                assert seen.setdefault(g.asin, split) == split, f"{g.asin} in two splits"
                product = catalog.product(g.asin)
                chosen = {}
                for value in g.option_values():
                    group = next(k for k, vals in product.options.items() if value in vals)
                    chosen[group] = value
                assert compute_reward(product, g, chosen, nouns).score == 1.0, g
    g = catalog.goals("synthetic", "test")[0]
    assert g.instruction_text.startswith("Find me") and "price lower than" in g.instruction_text
    assert isinstance(g.goal_options, dict)
    assert isinstance(catalog.goals("human", "test")[0].goal_options, tuple)


def test_search_keeps_single_character_tokens_and_caps_at_50(catalog):
    index = catalog.search
    hits = index.search("shoes")
    assert 0 < len(hits) <= 50 and hits == index.search("shoes")
    sized = [i for i in range(len(catalog)) if "9" in catalog.product(i).options.get("size", [])]
    assert sized
    assert set(index.search("9")) & set(sized)  # "9" is a token; bm25s's default pattern would drop it
    assert index.search("qqqzzz") == []
    target = catalog.product(sized[0])
    assert catalog.index_of[target.asin] in index.search(target.title)


def test_catalog_store_is_built_once_and_memory_mapped(tmp_path, monkeypatch):
    import numpy as np

    from spear_envs.webshop.search import SearchIndex

    monkeypatch.setenv("SPEAR_BENCH_CACHE", str(tmp_path))
    small = Catalog(CatalogSource(None, 40, 5))
    [store] = (tmp_path / "webshop").glob("store-v*/gen*-n40-s5-p233")
    assert (store / "meta.json").is_file() and (store / "index").is_dir()
    stamp = (store / "records.bin").stat().st_mtime_ns
    again = Catalog(CatalogSource(None, 40, 5))  # a second "process": opens the store, builds nothing
    assert (store / "records.bin").stat().st_mtime_ns == stamp
    assert isinstance(again.store.records, np.memmap) and isinstance(again.search.model.scores["data"], np.memmap)
    assert [again.record(i) for i in range(40)] == [small.record(i) for i in range(40)]
    query = small.product(0).title
    rebuilt = SearchIndex.for_catalog(small, rebuild=True)  # in memory, from the records
    assert again.search.search(query) == small.search.search(query) == rebuilt.search(query)
    assert small.index_of[small.asins[7]] == 7 and "NOPE" not in small.index_of
    with pytest.raises(KeyError):
        small.product("NOPE")


def test_real_file_checks(tmp_path):
    write_catalog(tmp_path / "gen", 30, seed=1)
    with pytest.raises(real_data.DataFileError, match="not a directory"):
        real_data.find_data_files(tmp_path / "missing")
    with pytest.raises(real_data.DataFileError, match="no WebShop product file"):
        real_data.find_data_files(tmp_path)
    # user files under upstream names that do not match the pinned sizes are reported
    up = tmp_path / "up"
    up.mkdir()
    shutil.copy(tmp_path / "gen" / PRODUCTS_FILE, up / "items_shuffle_1000.json")
    with pytest.raises(real_data.DataFileError, match="attribute file"):
        real_data.find_data_files(up)
    shutil.copy(tmp_path / "gen" / ATTRIBUTES_FILE, up / "items_ins_v2_1000.json")
    with pytest.raises(real_data.DataFileError, match="4,467,013 bytes"):
        Catalog(CatalogSource(str(up)))
    assert len(Catalog(CatalogSource(str(up), verify_data=False))) == 30


def test_streaming_reader_matches_json_load(tmp_path):
    write_catalog(tmp_path, 25, seed=2)
    path = tmp_path / PRODUCTS_FILE
    assert list(real_data.iter_json_array(path, chunk_size=97)) == json.loads(path.read_text())
    bad = tmp_path / "bad.json"
    bad.write_text('[{"asin": "A"}, {"asin": ')
    with pytest.raises(real_data.DataFileError, match="malformed JSON in element 1"):
        list(real_data.iter_json_array(bad, chunk_size=8))


def test_real_attribute_file_matches_its_pin(shared_dir, tmp_path):
    path = shared_dir / "data" / "webshop" / "items_ins_v2_1000.json"
    if not path.is_file():
        pytest.skip("items_ins_v2_1000.json is absent from ../shared")
    real_data.verify_file(path)  # size and sha256 match the pinned upstream file
    data = real_data.load_json_object(path)
    assert len(data) == 1000 and sum("instruction" in r for r in data.values()) == 415
    edited = tmp_path / "items_ins_v2_1000.json"
    edited.write_bytes(path.read_bytes().replace(b"living room", b"living-room", 1))
    with pytest.raises(real_data.DataFileError, match="sha256"):
        real_data.verify_file(edited)


def test_goal_sampling_draws_as_numpy_choice_with_the_goal_weights(catalog):
    import numpy as np

    for kind in ("synthetic", "human"):
        goals = catalog.goals(kind, "train")
        w = catalog.goal_tables[kind].weights[goals.ids]
        assert len(set(w.tolist())) > 1 or kind == "human"
        for seed in range(300):
            a, b = np.random.default_rng(seed), np.random.default_rng(seed)
            assert goals.sample(a) == int(b.choice(len(goals), p=w / w.sum()))
            assert a.random() == b.random()  # the same amount of the stream was used


def test_goal_tables_match_a_goal_by_goal_listing(catalog):
    """Every product's goals, listed one by one (the rules in goal_generator's docstring)."""
    from collections import Counter

    import numpy as np

    records = [catalog.record(i) for i in range(len(catalog))]
    n_combos = [int(np.prod([len(v) for v in r["options"].values()])) if r["instruction_text"] else 0 for r in records]
    listing = [(i, k) for i, n in enumerate(n_combos) for k in range(n)]
    counts = Counter(a for i, _ in listing for a in records[i]["instruction_attributes"])
    table = catalog.goal_tables["synthetic"]
    assert list(zip(table.products.tolist(), table.subs.tolist())) == listing
    for g, (i, _) in enumerate(listing[::37]):
        attrs = records[i]["instruction_attributes"]
        assert table.weights[g * 37] == (float(np.mean([1 / counts[a] for a in attrs])) if attrs else 1.0)
    human = catalog.goal_tables["human"]
    expected = [(i, k) for i, r in enumerate(records) for k, h in enumerate(r["human_instructions"])
                if h.get("instruction_attributes")]
    assert list(zip(human.products.tolist(), human.subs.tolist())) == expected
