"""Real headless Chromium (Debian ``chromium`` + ``chromium-driver``) on the live server's pages."""

from __future__ import annotations

import shutil
import tempfile

import pytest

from .conftest import TOY_ID, as_dict, make_result, post_result

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run"]


def _find(*names: str) -> str | None:
    return next((p for p in map(shutil.which, names) if p), None)


@pytest.fixture
def browser():
    chromium = _find("chromium", "chromium-browser")
    driver_path = _find("chromedriver", "chromium-driver")
    if not chromium or not driver_path:
        pytest.skip("Chromium not found: install Debian packages `chromium` and `chromium-driver`")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="spear-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_table_page_shows_new_row_sorts_and_opens_detail(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    weak = as_dict(make_result(20, seeds=(0,), episodes=4, method="reference agent"))
    status, _ = post_result(server, weak)
    assert status == 201
    browser.get(f"{server.url}/leaderboard?env={TOY_ID}")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#leaderboard-paper tbody tr")) == 1

    hostile = "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">"
    data = as_dict(make_result(21, seeds=(0, 1), episodes=4, method=hostile))
    status, body = post_result(server, data)
    assert status == 201
    browser.get(f"{server.url}/leaderboard?env={TOY_ID}")
    wait = WebDriverWait(browser, 20)
    row = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-id="{body["id"]}"]')))
    assert row.find_element(By.CSS_SELECTOR, "td.method").text == hostile  # shown as text, never run
    assert browser.execute_script("return window.__pwned === undefined")
    assert "verified" in row.text and len(browser.find_elements(By.CSS_SELECTOR, "#leaderboard-paper tbody tr")) == 2

    # sorting: clicking "Seeds" twice orders rows by seeds ascending then descending (JS from /static)
    seeds_header = browser.find_element(By.XPATH, "//table[@id='leaderboard-paper']//th[normalize-space()='Seeds']")
    seeds_header.click()
    ids_asc = [r.get_attribute("data-id") for r in browser.find_elements(By.CSS_SELECTOR, "#leaderboard-paper tbody tr")]
    seeds_header.click()
    ids_desc = [r.get_attribute("data-id") for r in browser.find_elements(By.CSS_SELECTOR, "#leaderboard-paper tbody tr")]
    assert ids_asc[-1] == ids_desc[0] == str(body["id"]) and ids_asc == ids_desc[::-1]
    assert seeds_header.get_attribute("aria-sort") == "descending"

    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-id="{body["id"]}"]')
    row.find_element(By.CSS_SELECTOR, "td.method a").click()
    heading = wait.until(ec.presence_of_element_located((By.ID, "method")))
    assert browser.current_url.endswith(f"/submissions/{body['id']}")
    assert heading.text == hostile and browser.execute_script("return window.__pwned === undefined")
    assert browser.find_element(By.ID, "submitter").text == "tester"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#per-seed tbody tr")) == 2


def test_two_tracks_and_the_new_columns(server, browser, tmp_path):
    """A paper-track and a laptop-track row of the toy env land in their own tables; a real WebShop
    laptop-track result shows its graded score, preset, steps, device and wall time."""
    from selenium.webdriver.common.by import By

    from spear_train.cli.main import main

    paper = post_result(server, as_dict(make_result(23, method="paper agent")))[1]
    laptop = post_result(server, as_dict(make_result(24, method="laptop agent", track="laptop")))[1]
    browser.get(f"{server.url}/leaderboard?env={TOY_ID}")
    tables = browser.find_elements(By.CSS_SELECTOR, "table.leaderboard")
    assert [t.get_attribute("data-track") for t in tables] == ["paper", "laptop"]
    paper_ids = [r.get_attribute("data-id") for r in browser.find_elements(By.CSS_SELECTOR, "#leaderboard-paper tbody tr")]
    laptop_ids = [r.get_attribute("data-id") for r in browser.find_elements(By.CSS_SELECTOR, "#leaderboard-laptop tbody tr")]
    assert (paper_ids, laptop_ids) == ([str(paper["id"])], [str(laptop["id"])])
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#leaderboard-laptop thead th")]
    assert {"Preset", "Steps", "Device", "Wall time", "Success", "Return"} <= set(headers)
    assert "Graded score" not in headers  # the toy env has no graded score

    out = tmp_path / "webshop.json"
    assert main(["eval", "--env", "webshop", "--agent", "expert", "--episodes", "100", "--out", str(out)]) == 0
    status, job = post_result(server, out.read_bytes())
    assert status == 201 and job["track"] == "laptop", job
    browser.get(f"{server.url}/leaderboard?env=spear/WebShop-v0")
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#leaderboard-laptop thead th")]
    assert headers.index("Graded score") == headers.index("Success") + 1
    row = browser.find_element(By.CSS_SELECTOR, f'#leaderboard-laptop tr[data-id="{job["id"]}"]')
    cell = {c: row.find_element(By.CSS_SELECTOR, f"td.{c}").text for c in ("preset", "steps", "device", "graded",
                                                                          "success", "score")}
    assert cell == {"preset": "eval-expert", "steps": "—", "device": "cpu", "graded": "1.000",
                    "success": "100.0%", "score": "10.000"}
    assert row.find_element(By.CSS_SELECTOR, "td.wall-time").text.endswith(("s", "min"))
    assert browser.find_elements(By.ID, "leaderboard-paper") == []  # no paper-track WebShop row here
