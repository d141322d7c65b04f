"""The on-disk catalog store: streamed from upstream-layout files, built once, shared by processes."""

from __future__ import annotations

import json
import multiprocessing
import os

import pytest

from spear_envs.webshop import real_data
from spear_envs.webshop.catalog import Catalog, CatalogSource, catalog_size
from spear_envs.webshop.catalog_generator import ATTRIBUTES_FILE, HUMAN_INS_FILE, PRODUCTS_FILE, write_catalog
from spear_envs.webshop.env import WebShopEnv
from spear_envs.webshop.record import derive_record


def records_by_json_load(products, attributes, human, price_seed=233) -> list[dict]:
    """What a whole-file ``json.load`` loader derives (upstream's rules, no streaming)."""
    seen, out = set(), []
    for raw in products:
        asin = raw.get("asin")
        if not isinstance(asin, str) or asin == "nan" or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        out.append(derive_record(raw, attributes.get(asin), human.get(asin), price_seed))
    return out


def test_upstream_layout_files_stream_into_the_same_catalog(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEAR_BENCH_CACHE", str(tmp_path / "cache"))
    gen = write_catalog(tmp_path / "gen", 300, seed=7)
    products = json.loads((gen / PRODUCTS_FILE).read_text())
    attributes = json.loads((gen / ATTRIBUTES_FILE).read_text())
    human = json.loads((gen / HUMAN_INS_FILE).read_text())
    products.insert(5, dict(products[3]))  # a repeated ASIN and unusable ones are skipped, as upstream
    products.insert(9, dict(products[0], asin="nan"))
    products.insert(11, dict(products[0], asin="TOOLONGASIN1"))
    up = tmp_path / "up"
    up.mkdir()
    # the full-size upstream names, pretty-printed (another layout than the generator's)
    (up / "items_shuffle.json").write_text(json.dumps(products, indent=4, ensure_ascii=False), encoding="utf-8")
    (up / "items_ins_v2.json").write_text(json.dumps(attributes), encoding="utf-8")
    (up / "items_human_ins.json").write_text(json.dumps(human), encoding="utf-8")
    with pytest.raises(real_data.DataFileError, match="5,479,720,229 bytes"):
        Catalog(CatalogSource(str(up)))  # not the pinned upstream file: reported, not loaded
    catalog = Catalog(CatalogSource(str(up), verify_data=False))
    expected = records_by_json_load(products, attributes, human)
    assert len(catalog) == len(expected) == 300
    assert [catalog.record(i) for i in range(len(catalog))] == expected
    generated = Catalog(CatalogSource(None, 300, 7))  # the same products, in the generator's layout
    assert [generated.record(i) for i in range(300)] == expected
    for kind, table in generated.goal_tables.items():
        other = catalog.goal_tables[kind]
        assert all((getattr(table, f) == getattr(other, f)).all() for f in ("products", "subs", "weights", "splits"))


def test_streaming_reader_yields_before_reading_the_rest(tmp_path):
    path = tmp_path / "items.json"
    path.write_text('[{"asin": "A1"},\n {"asin": "A2"}, ' + "x" * (1 << 16))  # truncated after two elements
    stream = real_data.iter_json_array(path, chunk_size=64)
    assert next(stream) == {"asin": "A1"} and next(stream) == {"asin": "A2"}
    with pytest.raises(real_data.DataFileError, match="malformed JSON in element 2"):
        next(stream)


def test_real_1000_product_files_load_as_with_json_load(shared_dir):
    data = shared_dir / "data" / "webshop"
    if not (data / "items_shuffle_1000.json").is_file() or not (data / "items_ins_v2_1000.json").is_file():
        pytest.skip("the 1,000-product upstream files are absent from ../shared")
    files = real_data.find_data_files(data)
    catalog = Catalog(CatalogSource(str(data)))
    human = real_data.load_json_object(files.human) if files.human else {}
    expected = records_by_json_load(json.loads(files.products.read_text()),
                                    real_data.load_json_object(files.attributes), human)
    assert [catalog.record(i) for i in range(len(catalog))] == expected


def _open_in_child(cache: str, queue) -> None:
    os.environ["SPEAR_BENCH_CACHE"] = cache
    catalog = Catalog(CatalogSource(None, 200, 11))
    queue.put((os.stat(catalog.store.path / "records.bin").st_ino, catalog.record(0)["asin"]))


def test_processes_opening_a_new_catalog_together_build_it_once(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_open_in_child, args=(str(tmp_path), queue)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert len(set(results)) == 1  # one build: every process opened the same files
    assert len(list((tmp_path / "webshop").glob("store-v*/gen*-n200-s11-p233"))) == 1
    assert not list((tmp_path / "webshop").glob("store-v*/.*tmp*"))  # no scratch left behind


def test_catalog_size_names():
    assert catalog_size("full") == 1_180_000 and catalog_size("100k") == 100_000 and catalog_size(250) == 250
    for bad in ("huge", True, 2.5):
        with pytest.raises(ValueError, match="catalog size"):
            catalog_size(bad)
    assert len(WebShopEnv(n_products="1k").catalog) == 1000


def test_streamed_generator_files_equal_the_in_memory_generator(tmp_path):
    from spear_envs.webshop.catalog_generator import generate_catalog

    products, attributes, human = generate_catalog(500, seed=4)
    out = write_catalog(tmp_path, 500, seed=4)  # records spilled to disk, then copied out shuffled
    assert (out / PRODUCTS_FILE).read_text(encoding="utf-8") == json.dumps(products, ensure_ascii=False)
    assert (out / ATTRIBUTES_FILE).read_text(encoding="utf-8") == json.dumps(attributes, ensure_ascii=False)
    assert (out / HUMAN_INS_FILE).read_text(encoding="utf-8") == json.dumps(human, ensure_ascii=False)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch files left
