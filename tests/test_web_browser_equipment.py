"""A technician's inventory in a real browser (issue 15): Debian's Chromium, driven through
chromium-driver, against a running `centre web` of the simulated home. She signs in with her
second factor, opens Equipment from the page header, adds a blood pressure cuff, deploys it to
her team's patient (whose care episode with the home's hub is under way), marks it faulty, and
sees the patient listed on the cuff's page. Screenshots in $DHO_SCREENSHOTS (screenshots/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from testbed.home import SimulatedHome
from tests.test_web_browser import PASSWORD, WAIT_S, browser, browser_errors, shot, sign_in

__all__ = ["browser"]  # the fixture, shared with the nurse's browser test


def add_technician(home: SimulatedHome, team: str) -> dict[str, str]:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "centre.cli", "--config", str(home.centre_config)),
            *("add-user", "tekniker", "--role", "technician", "--team", team),
            *("--name", "Tina Tekniker", "--password-stdin"),
        ],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **home.env},
    )
    assert done.returncode == 0, done.stderr
    return {"password": PASSWORD, **json.loads(done.stdout)}


def test_a_technician_deploys_a_cuff_and_finds_who_used_it_when_it_fails(
    home: SimulatedHome, browser: WebDriver
) -> None:
    _, web = home.start_web()
    home.add_people(password=PASSWORD)  # Kari Nordmann, with the home's hub since now
    technician = add_technician(home, "Oppfølging Bergen")
    sign_in(browser, web, technician)

    browser.find_element(By.CSS_SELECTOR, "header nav a[href='/equipment/']").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(By.ID, "equipment-add"))
    form = browser.find_element(By.ID, "equipment-add")
    Select(form.find_element(By.NAME, "kind")).select_by_value("device")
    form.find_element(By.NAME, "model").send_keys("A&D UA-651BLE")
    form.find_element(By.NAME, "serial").send_keys("5140312")
    form.find_element(By.NAME, "address").send_keys("00:1a:7d:da:71:13")
    Select(form.find_element(By.NAME, "profile")).select_by_value("blood_pressure")
    shot(browser, "equipment-01-add")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(By.ID, "deploy"))
    assert "00:1A:7D:DA:71:13" in browser.find_element(By.ID, "equipment-facts").text

    deploy = browser.find_element(By.ID, "deploy")
    Select(deploy.find_element(By.NAME, "patient")).select_by_visible_text(
        "Kari Nordmann (15.07.1965, Oppfølging Bergen)"
    )
    deploy.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(By.ID, "faulty"))
    assert state(browser) == "deployed"
    shot(browser, "equipment-02-deployed")

    faulty = browser.find_element(By.ID, "faulty")
    faulty.find_element(By.NAME, "note").send_keys("mansjetten lekker")
    faulty.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: state(d) == "faulty")
    uses = browser.find_element(By.ID, "equipment-uses").text
    assert "Kari Nordmann" in uses, "the faulty cuff's page names who used it"
    assert home.hub_id in uses
    assert "mansjetten lekker" in browser.find_element(By.ID, "equipment-facts").text
    shot(browser, "equipment-03-faulty")

    browser.get(f"{web}/equipment/?state=faulty")
    assert browser.find_elements(By.CSS_SELECTOR, "#equipment-list a"), "listed as faulty"
    assert browser_errors(browser) == [], "no script error, no CSP violation"


def state(driver: WebDriver) -> str:
    found = driver.find_elements(By.CSS_SELECTOR, "#equipment-state [data-state]")
    return str(found[0].get_attribute("data-state")) if found else ""
