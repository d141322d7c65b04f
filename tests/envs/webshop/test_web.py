"""The WebShop web page: Flask test client, the CLI, and end to end in headless Chromium."""

from __future__ import annotations

import shutil
import tempfile
import threading

import pytest

from spear_envs.webshop.web.app import create_app
from spear_train.cli.main import build_parser, main


@pytest.fixture(scope="module")
def app():
    return create_app(split="test", seed=0)


def test_each_visitor_gets_a_session_and_plays_through(app, catalog):
    alice, bob = app.test_client(), app.test_client()
    ra, rb = alice.get("/new?goal=0"), bob.get("/new?goal=1")
    sid_a, sid_b = ra.headers["Location"].rsplit("/", 1)[1], rb.headers["Location"].rsplit("/", 1)[1]
    assert sid_a != sid_b
    assert alice.get("/").headers["Location"] == f"/s/{sid_a}"  # the cookie brings Alice back to her session
    goal = catalog.goals("synthetic", "test")[0]
    page = alice.get(f"/s/{sid_a}").get_data(as_text=True)
    assert goal.instruction_text.replace("'", "&#39;") in page and 'id="search_input"' in page
    assert alice.post(f"/s/{sid_a}/search", data={"query": goal.name}).status_code == 303
    assert goal.asin in alice.get(f"/s/{sid_a}").get_data(as_text=True)
    assert "Search" in bob.get(f"/s/{sid_b}").get_data(as_text=True)  # Bob is still on the search page


def test_bad_requests_get_clear_messages(app):
    c = app.test_client()
    assert "unknown or expired session" in c.get("/s/nope").get_data(as_text=True)
    assert c.get("/new?goal=abc").status_code == 400
    sid = c.get("/new").headers["Location"].rsplit("/", 1)[1]
    r = c.post(f"/s/{sid}/act", data={"action": "click[buy now]"})
    assert r.status_code == 400 and "not clickable" in r.get_data(as_text=True)
    assert c.post(f"/s/{sid}/act", data={}).status_code == 400
    assert c.post(f"/s/{sid}/search", data={"query": "  "}).status_code == 400


def test_cli_has_a_serve_command_with_help(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["webshop", "serve", "--help"])
    assert "--port" in capsys.readouterr().out
    assert main(["webshop", "serve", "--port", "0"]) == 2
    assert "--port must be" in capsys.readouterr().err


def _chromium():
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        pytest.skip("Chromium or chromedriver is not installed (make browser installs Debian's chromium + chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    profile = tempfile.mkdtemp(prefix="spear-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=opts), profile


@pytest.mark.browser
def test_a_person_can_shop_in_headless_chromium(app, catalog):
    from selenium.webdriver.common.by import By
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    browser, profile = _chromium()
    browser.implicitly_wait(5)
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        goal = catalog.goals("synthetic", "test")[2]
        browser.get(f"{base}/new?goal=2")
        assert browser.find_element(By.ID, "instruction-text").text == goal.instruction_text
        browser.find_element(By.ID, "search_input").send_keys(goal.name)
        search_button = browser.find_element(By.ID, "search_button")
        search_button.click()
        def left_the_page(element):
            """True once ``element`` is stale or detached mid-navigation (both raise WebDriverException)."""
            def check(_):
                try:
                    element.is_enabled()
                    return False
                except WebDriverException:
                    return True
            return check

        WebDriverWait(browser, 10).until(left_the_page(search_button))
        assert "Total results" in browser.page_source

        def click(action: str):
            button = browser.find_element(By.CSS_SELECTOR, f'button[value="{action}"]')
            button.click()
            WebDriverWait(browser, 10).until(left_the_page(button))  # the next page has loaded

        browser.implicitly_wait(0)
        while not browser.find_elements(By.CSS_SELECTOR, f'button[value="click[{goal.asin.lower()}]"]'):
            click("click[next >]")
        browser.implicitly_wait(5)
        click(f"click[{goal.asin.lower()}]")
        assert goal.name in browser.page_source
        for value in goal.option_values():
            click(f"click[{value}]")
            assert browser.find_element(By.CSS_SELECTOR, f'button[value="click[{value}]"]').get_attribute(
                "aria-pressed") == "true"
        click("click[buy now]")
        assert "Thank you for shopping with us!" in browser.page_source
        assert browser.find_element(By.ID, "score").text == "1.0"
    finally:
        browser.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
