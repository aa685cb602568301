"""A hub's health and its revocation, end to end in a real browser (issue 15): the hub daemon
against BlueZoo with an emulated cuff, Mosquitto with TLS, `centre serve` and `centre web` as
processes, Debian's Chromium through chromium-driver; nothing mocked.

The hub reports its health every 2 s; the technician signs in (password and second factor),
sees the hub on "Hubs and devices" with the cuff's battery as the hub read it, opens the hub's
page, revokes it by typing its id, and from then on the broker refuses what the hub sends (its
next health report) without a reload, and the centre stores nothing more from it.
Screenshots at 1366x768 in $DHO_SCREENSHOTS (default: screenshots/).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from hub.core.health import KIND
from testbed.home import SimulatedHome
from testbed.peripherals.cuff import EmulatedCuff
from testbed.peripherals.device import Behaviour
from testbed.totp import code
from tests.conftest import eventually, pair
from tests.test_end_to_end import cuff_value
from tests.test_web_browser import WAIT_S, browser, browser_errors, shot

__all__ = ["browser"]  # a fixture, used by name
PASSWORD = "a long passphrase for the technician"
HEALTH_WAIT_S = 120.0  # a bound on waits on a loaded machine, not a timing under test
BATTERY = 37


def add_technician(home: SimulatedHome) -> dict[str, str]:
    """`centre add-user` as the administrator runs it: a technician in no team."""
    done = subprocess.run(
        [sys.executable, "-m", "centre.cli", "--config", str(home.centre_config), "add-user",
         "tekla", "--role", "technician", "--name", "Tekla Tekniker", "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
        env={**os.environ, **home.env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    made: dict[str, str] = json.loads(done.stdout)
    return {**made, "password": PASSWORD}


def sign_in(driver: WebDriver, web: str, user: dict[str, str]) -> None:
    driver.get(f"{web}/technician/")
    assert "/login/" in driver.current_url, "the page asks for the login first"
    driver.find_element(By.ID, "id_username").send_keys(user["username"])
    driver.find_element(By.ID, "id_password").send_keys(user["password"])
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.ID, "id_otp_token"))
    driver.find_element(By.ID, "id_otp_token").send_keys(code(user["totp_secret"]))
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: "/login/" not in d.current_url)


def hub_row_text(driver: WebDriver, web: str, hub_id: str) -> str | None:
    """The hub's row on "Hubs and devices", read afresh (the page does not refresh itself)."""
    driver.get(f"{web}/technician/")
    rows = driver.find_elements(By.ID, f"hub-{hub_id}")
    return rows[0].text if rows else None


async def test_a_hubs_health_shows_and_revoking_it_shuts_it_out(
    home: SimulatedHome, short_tmp: Path, browser: WebDriver
) -> None:
    home.health_every_s = 2.0
    home.start_centre(taking_batches=True)
    _, web = home.start_web()
    technician = add_technician(home)
    home.start_hub()
    cuff = EmulatedCuff(behaviour=Behaviour(battery_level=BATTERY))
    await cuff.start()
    try:
        await pair(home, cuff)
        cuff.take_measurement(cuff_value(128, 82, 70))  # the hub reads the battery as it connects
        sign_in(browser, web, technician)
        row = await eventually(
            lambda: (
                text
                if (text := hub_row_text(browser, web, home.hub_id)) and f"{BATTERY} %" in text
                else None
            ),
            HEALTH_WAIT_S,
            "the hub's row with the cuff's battery",
        )
        assert cuff.address in row
        shot(browser, "21-technician-hubs")
        browser.find_element(By.CSS_SELECTOR, f"#hub-{home.hub_id} a").click()
        WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(By.ID, "revoke-hub"))
        browser.find_element(By.ID, "revoke-hub").click()
        WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(By.ID, "id_hub_id"))
        browser.find_element(By.ID, "id_hub_id").send_keys(home.hub_id)
        shot(browser, "22-technician-revoke")
        browser.find_element(By.ID, "revoke").click()
        WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(By.ID, "revoked"))
        shot(browser, "23-technician-revoked")
        assert not browser_errors(browser)

        # The hub keeps reporting every 2 s; the broker refuses it, without a reload.
        refused = f"dho: refused revoked hub {home.hub_id}"
        await eventually(lambda: refused in home.broker_log(), WAIT_S, "the broker to refuse it")
        assert "Reloading config" not in home.broker_log()
        stored = len([r for r in home.centre_readings() if r["kind"] == KIND])
        await eventually(
            lambda: home.broker_log().count(refused) >= 3, WAIT_S, "more of its sends refused"
        )
        assert len([r for r in home.centre_readings() if r["kind"] == KIND]) == stored
        waiting = [r for r in home.hub_readings() if r["kind"] == KIND and not r["synced"]]
        assert waiting, "what the hub could not send stays on the hub"
    finally:
        await cuff.stop()
