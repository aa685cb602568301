"""A technician's round in a real browser (issue 15): Debian's Chromium, driven through
chromium-driver, against the centre's web served in this process (its threads share the test's
SQLite database, which the test fills as the ingest would: hubs, their newest health reports,
devices and history).

She signs in with her password and second factor (TOTP), opens "Hubs and devices" from the
menu, sees the hub that has been offline for two days under "offline for more than a day" and
the cuff with a low battery under "battery low", filters by state and by text (a plain GET form,
no script), and opens a hub's page with its devices and the history of its reports. No script
error and no CSP violation on the way. Screenshots at 1366x768 in $DHO_SCREENSHOTS (default:
screenshots/).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from centre.web.accounts import NewUser, add_user
from hub.core.health import HubHealth, to_health_reading
from testbed.totp import code
from tests.test_web_browser import WAIT_S, browser, browser_errors, shot
from tests.test_web_technician import DAY, HOUR, Place, place

__all__ = ["browser", "place"]  # fixtures, used by name
PASSWORD = "a long passphrase for the technician"


@pytest.fixture
def served(place: Place) -> Iterator[str]:
    """The centre's web on a free port in this process, as a browser reaches it."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), Quiet, allow_reuse_address=False)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def sign_in(driver: WebDriver, web: str, user: NewUser) -> None:
    driver.get(f"{web}/technician/")
    assert "/login/" in driver.current_url, "the page asks for the login first"
    driver.find_element(By.ID, "id_username").send_keys(user.username)
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    WebDriverWait(driver, WAIT_S).until(
        lambda d: (
            d.find_elements(By.ID, "id_otp_token") or d.find_elements(By.CSS_SELECTOR, "p.error")
        )
    )
    assert "/login/code/" in driver.current_url, "a password alone opens nothing"
    driver.find_element(By.ID, "id_otp_token").send_keys(code(user.totp_secret))
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: "/login/" not in d.current_url)


def hub_rows(driver: WebDriver) -> list[str]:
    return [
        str(row.get_attribute("id")).removeprefix("hub-")
        for row in driver.find_elements(By.CSS_SELECTOR, "#hubs tbody tr[id^='hub-']")
    ]


def listed(driver: WebDriver, problem: str) -> list[str]:
    links = driver.find_elements(By.CSS_SELECTOR, f"#problem-{problem} ul.problem-hubs a")
    return [link.text for link in links]


@pytest.mark.parametrize("centre_db", ["sqlite"], indirect=True)
def test_a_technicians_round_in_the_browser(place: Place, served: str, browser: WebDriver) -> None:
    quiet = place.hub("hub-stille", "offline", seen=2 * DAY, since=9 * DAY)
    place.report(quiet, batteries=(90,))
    place.home(quiet, "Åse Ærlig", place.east)
    weak = place.hub("hub-svakt", "online")
    place.report(weak, batteries=(12, 85))
    place.home(weak, "Berit Bærum", place.west)
    place.report(place.hub("hub-frisk", "online"), batteries=(100,))
    health = HubHealth(
        software_version="1.4.2",
        uptime_s=3600,
        disk_free_bytes=12 << 30,
        disk_total_bytes=30 << 30,
        clock_synced=True,
        outbox_pending=0,
    )
    values = to_health_reading(health, "2026-12-01T08:00:00+00:00").values
    for n in range(3):
        place.health_reading(weak, timedelta(hours=6 * n) + HOUR, values)
    technician = add_user("tore", "technician", ["Vest"], PASSWORD, "Tore Tekniker")  # Berit's team

    sign_in(browser, served, technician)
    browser.get(f"{served}/")
    browser.find_element(By.CSS_SELECTOR, "nav a[href='/technician/']").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(By.ID, "hubs"))
    assert hub_rows(browser) == ["hub-frisk", "hub-stille", "hub-svakt"]
    assert listed(browser, "offline_day") == ["hub-stille"]
    assert listed(browser, "battery_low") == ["hub-svakt"]
    assert listed(browser, "clock") == []
    assert "Frakoblet i mer enn ett døgn" in browser.page_source, "in bokmål by default"
    shot(browser, "technician-01-hubs")

    # The list's heading links to its filtered view.
    browser.find_element(By.CSS_SELECTOR, "#problem-battery_low h2 a").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: "problem=battery_low" in d.current_url)
    assert hub_rows(browser) == ["hub-svakt"]
    low = browser.find_elements(By.CSS_SELECTOR, "#hub-hub-svakt li.battery-low .address")
    assert [e.text for e in low] == ["AA:BB:CC:00:00:01"]

    # The filter form, as a person fills it in: state offline, then a patient's name.
    browser.get(f"{served}/technician/")
    Select(browser.find_element(By.ID, "id_state")).select_by_value("offline")
    browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: "state=offline" in d.current_url)
    assert hub_rows(browser) == ["hub-stille"]
    Select(browser.find_element(By.ID, "id_state")).select_by_value("")
    browser.find_element(By.ID, "id_q").send_keys("bærum")
    browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: "q=b" in d.current_url)  # not the last "q="
    assert hub_rows(browser) == ["hub-svakt"]
    shot(browser, "technician-02-filtered")

    browser.find_element(
        By.CSS_SELECTOR, "#hub-hub-svakt a[href='/technician/hubs/hub-svakt/']"
    ).click()
    WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(By.ID, "hub-page"))
    devices = browser.find_elements(By.CSS_SELECTOR, "#devices tbody tr")
    assert len(devices) == 2 and "12 %" in devices[0].text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#history tbody tr[id^='report-']")) == 3
    assert "Berit Bærum" in browser.page_source
    shot(browser, "technician-03-hub")
    assert browser_errors(browser) == [], "no script error, no CSP violation"
