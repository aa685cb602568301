"""A nurse's morning in a real browser (issue 13): Debian's Chromium, driven through
chromium-driver, against the running simulated home: real cuff (emulated over BlueZoo), hub
daemon, broker, ingest worker and `centre web`, all real processes.

She signs in with her second factor; a high blood pressure taken on the cuff turns her worklist
red without a reload; she opens the patient and sees the plot with the limit; she acknowledges
with a receipt and the hub (what the patient screen shows) has it; a nurse of another team cannot
see the patient; a form without its CSRF token is refused; signing out ends the session.
Screenshots of the pages at 1366x768 are saved in $DHO_SCREENSHOTS (default: screenshots/).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from hub.devices.blood_pressure import build_blood_pressure_measurement
from testbed.demo import DEMO_PLAN
from testbed.home import SimulatedHome
from testbed.peripherals.cuff import EmulatedCuff
from testbed.totp import code
from tests.conftest import eventually, pair

PASSWORD = "a long passphrase for tests"
SCREENSHOTS = Path(os.environ.get("DHO_SCREENSHOTS", Path(__file__).parents[1] / "screenshots"))
WAIT_S = 60  # a bound on each wait, not a timing under test


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": "nb,no"})
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService("/usr/bin/chromedriver")
    )
    driver.set_window_size(1366, 768)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: WebDriver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def sign_in(driver: WebDriver, web: str, nurse: dict[str, str]) -> None:
    driver.get(f"{web}/")
    assert "/login/" in driver.current_url, "every page asks for the login first"
    driver.find_element(By.ID, "id_username").send_keys(nurse["username"])
    driver.find_element(By.ID, "id_password").send_keys(nurse["password"])
    shot(driver, "01-login")
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    # The click returns before the next page is there; wait for either outcome.
    WebDriverWait(driver, WAIT_S).until(
        lambda d: (
            d.find_elements(By.ID, "id_otp_token") or d.find_elements(By.CSS_SELECTOR, "p.error")
        )
    )
    assert "/login/code/" in driver.current_url, "a password alone opens nothing"
    driver.find_element(By.ID, "id_otp_token").send_keys(code(nurse["totp_secret"]))
    shot(driver, "02-second-factor")
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.ID, "worklist-rows"))


def row_class(driver: WebDriver, patient_id: str) -> str:
    return str(
        driver.execute_script(f"return document.getElementById('patient-{patient_id}').className")
    )


def click(driver: WebDriver, css: str) -> None:
    """Click in one step: the live refresh may replace the rows between a find and a click."""
    assert driver.execute_script(
        "const e = document.querySelector(arguments[0]); if (e) e.click(); return !!e;", css
    ), f"nothing on the page matches {css}"


def browser_errors(driver: WebDriver) -> list[str]:
    log = driver.get_log("browser")  # type: ignore[attr-defined]  # Chrome's, not WebDriver's
    return [
        e["message"]
        for e in log
        if e["level"] == "SEVERE"
        and "favicon.ico" not in e["message"]
        # The one page that must fail: the form sent without its CSRF token.
        and "403" not in e["message"]
    ]


async def test_a_nurses_morning_in_the_browser(
    home: SimulatedHome, short_tmp: Path, browser: WebDriver
) -> None:
    home.start_centre(taking_batches=True)
    _, web = home.start_web()
    nurse = home.add_people(password=PASSWORD)
    stranger_team = home.centre_cli(
        "add-team", "Oppfølging Nord", "--municipality", "Bergen", "--number", "4601"
    )
    assert stranger_team.returncode == 0, stranger_team.stderr
    stranger = home.add_nurse("annen", "Oppfølging Nord", PASSWORD)
    plan = short_tmp / "plan.json"
    plan.write_text(json.dumps(DEMO_PLAN))  # systolic above 160 is red
    sent = home.centre_cli("send-care-plan", home.hub_id, str(plan))
    assert sent.returncode == 0, sent.stderr
    home.start_hub()
    await eventually(lambda: home.hub_status()["care_plan_version"] == 1, what="the plan")
    cuff = EmulatedCuff()
    await cuff.start()
    try:
        await pair(home, cuff)
        sign_in(browser, web, nurse)
        link = browser.find_element(By.CSS_SELECTOR, "#worklist-rows a[href^='/patients/']")
        patient_path = str(link.get_attribute("href")).removeprefix(web)
        patient_id = re.findall(r"\d+", patient_path)[0]
        assert row_class(browser, patient_id) != "row-red"
        shot(browser, "03-worklist")

        browser.execute_script("window.notReloaded = true;")
        cuff.take_measurement(build_blood_pressure_measurement(178, 96, 123))
        # From the cuff through BlueZoo, the hub, the broker and the ingest to the database;
        # then the page's own refresh (every 4 s) shows it.
        await eventually(home.centre_readings, within=120, what="the reading at the centre")
        WebDriverWait(browser, WAIT_S, poll_frequency=0.2).until(
            lambda d: row_class(d, patient_id) == "row-red"
        )
        assert browser.execute_script("return window.notReloaded === true;"), "no reload"
        first = browser.find_element(By.CSS_SELECTOR, "#worklist-rows tr")
        assert first.get_attribute("id") == f"patient-{patient_id}", "red at the top"
        shot(browser, "04-worklist-red")

        browser.find_element(By.ID, f"patient-{patient_id}").find_element(By.TAG_NAME, "a").click()
        WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(By.ID, "trends"))
        plots = browser.find_elements(By.CSS_SELECTOR, "figure.trend svg")
        assert plots, "the trend plots are drawn"
        drawn = [str(p.get_attribute("innerHTML")) for p in plots]
        assert any("160" in svg for svg in drawn), "the limit is drawn"
        shot(browser, "05-patient")

        browser.get(f"{web}/")
        click(browser, f"#patient-{patient_id} button[name=acknowledge_all_with_receipt]")
        WebDriverWait(browser, WAIT_S).until(lambda d: row_class(d, patient_id) != "row-red")
        shot(browser, "06-acknowledged")
        messages = await eventually(
            lambda: home.hub_status()["messages"], what="the receipt at the hub", within=WAIT_S
        )
        assert "Sykepleieren har sett målingen din" in [m["text"] for m in messages]

        # She lowers the upper limit in the editor; the hub then holds the new version.
        browser.get(f"{web}{patient_path}")
        click(browser, "#edit-care-plan")
        WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(By.ID, "limits"))
        upper = browser.find_element(By.NAME, "limits-0-max")
        assert float(str(upper.get_attribute("value")).replace(",", ".")) == 160
        upper.clear()
        upper.send_keys("150")
        shot(browser, "07-care-plan-editor")
        click(browser, "main form button.primary")
        WebDriverWait(browser, WAIT_S).until(lambda d: patient_path in d.current_url)
        held = await eventually(
            lambda: (s := home.hub_status())["care_plan_version"] == 2 and s,
            what="the hub holding the new version",
            within=WAIT_S,
        )
        assert held["care_plan"]["thresholds"]["blood_pressure"]["systolic"]["max"] == 150

        # A form whose CSRF token is gone is refused, and nothing is acknowledged.
        browser.execute_script(
            "const f = document.querySelector('form.signout');"
            "f.querySelector('input[name=csrfmiddlewaretoken]').remove(); f.submit();"
        )
        WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(By.ID, "form-expired"))
        browser.get(f"{web}/")
        assert browser.find_elements(By.ID, "worklist-rows"), "still signed in after the 403"
        assert browser_errors(browser) == [], "no script error, no CSP violation"

        browser.find_element(By.CSS_SELECTOR, "form.signout button").click()
        WebDriverWait(browser, WAIT_S).until(lambda d: "/login/" in d.current_url)
        browser.get(f"{web}/")
        assert "/login/" in browser.current_url, "signed out for good"

        sign_in(browser, web, stranger)
        assert not browser.find_elements(By.ID, f"patient-{patient_id}")
        browser.get(f"{web}{patient_path}")
        assert browser.find_elements(By.ID, "not-found"), "another team's patient is a 404"
        assert "Kari Nordmann" not in browser.page_source
        shot(browser, "08-other-team-404")
    finally:
        await cuff.stop()
