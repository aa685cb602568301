"""The centre web's translation catalogues (issue 13, "Languages"): Norwegian bokmål by default,
nynorsk and English, through Django's catalogues in centre/web/locale.

Every msgid in the code and templates is in the catalogues, every nb and nn entry is translated
(none empty, none fuzzy) with the msgid's placeholders, the committed .mo files are what msgfmt
makes of the committed .po files (a fresh checkout runs without a compile step), and a page
shows each language's words.

After changing people-facing text, regenerate, translate the new entries in nb and nn, compile:

    cd centre && DJANGO_SETTINGS_MODULE=centre.web.typecheck ../.venv/bin/python -m django \\
        makemessages -l nb -l nn -l en --ignore "*/migrations/*" --add-location file --no-obsolete
    cd web/locale && for l in nb nn en; do \\
        msgfmt --check -o $l/LC_MESSAGES/django.mo $l/LC_MESSAGES/django.po; done

Needs Debian's gettext (xgettext, msgmerge, msgfmt) on the PATH."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.test import Client

from centre.people.models import Municipality, Team
from centre.web.accounts import add_user
from tests.test_web_signin import PASSWORD, sign_in

CENTRE = Path(__file__).resolve().parent.parent / "centre"
LOCALE = CENTRE / "web" / "locale"
TRANSLATED = ("nb", "nn")
ALL_LANGUAGES = ("nb", "nn", "en")
REGENERATE = "see the command in tests/test_translations.py's docstring"

Key = tuple[str | None, str, str | None]


def catalogue(language: str) -> polib.POFile:
    return polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))


def key(entry: polib.POEntry | polib.MOEntry) -> Key:
    return (entry.msgctxt, entry.msgid, entry.msgid_plural or None)


def live_entries(po: polib.POFile) -> list[polib.POEntry]:
    return [entry for entry in po if not entry.obsolete and entry.msgid]


def gettext_tool(name: str) -> str:
    found = shutil.which(name)
    assert found is not None, f"{name} is missing: install Debian's gettext package"
    return found


# Python format specs (%(name)s, %d, %% ...), brace fields ({name}) and HTML tags: a translation
# must carry the same ones, or the page breaks (KeyError, a lost value) or gains markup.
PLACEHOLDER = re.compile(
    r"%(?:\([^)]*\))?[#0 +-]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa%]|\{[^{}\s]*\}|<[^<>]*>"
)


def placeholders(text: str) -> list[str]:
    """The placeholders and tags in `text`, sorted (their order may change in a translation)."""
    return sorted(PLACEHOLDER.findall(text))


@pytest.mark.parametrize(
    ("msgid", "msgstr", "same"),
    [
        ("Page %(n)s of %(of)s", "Side %(n)s av %(of)s", True),
        ("From %(first)s to %(last)s", "Til %(last)s frå %(first)s", True),  # reordered
        ("Back to %(name)s", "Tilbake til %(nam)s", False),  # misspelt name: KeyError
        ("Back to %(name)s", "Tilbake til", False),  # value lost
        ("acknowledged %(count)d finding", "kvitterte ut %(count)s funn", False),  # type changed
        ("(%(share)s %%).", "(%(share)s %).", False),  # a lone % breaks the formatting
        ("(%(share)s %%).", "(%(share)s %%).", True),
        ("Note", "Notat <script>alert(1)</script>", False),  # markup smuggled in
        ("Hello {name}", "Hei {navn}", False),
        ("Nothing to see", "Ingen funn", True),
        ("", "", True),
    ],
)
def test_placeholders_must_match(msgid: str, msgstr: str, same: bool) -> None:
    assert (placeholders(msgid) == placeholders(msgstr)) is same


def extracted_now(tmp_path: Path) -> set[Key]:
    """The msgids makemessages finds in the current code and templates: run in a copy of
    centre/ with its own locale folder, so the test never writes into the repository."""
    gettext_tool("xgettext")
    gettext_tool("msgmerge")
    copy = tmp_path / "centre"
    shutil.copytree(CENTRE, copy, ignore=shutil.ignore_patterns("__pycache__", "locale"))
    (copy / "web" / "locale").mkdir()
    (tmp_path / "settings_for_copy.py").write_text(
        "from centre.web.typecheck import *  # noqa: F403\n"
        f"LOCALE_PATHS = [{str(copy / 'web' / 'locale')!r}]\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings_for_copy",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(CENTRE.parent)]),
    }
    command = [sys.executable, "-m", "django", "makemessages", "-l", "nb", "--keep-pot"]
    command += ["--ignore", "*/migrations/*", "--add-location", "file", "--no-obsolete"]
    done = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    pot = polib.pofile(str(copy / "web" / "locale" / "django.pot"))
    return {key(entry) for entry in live_entries(pot)}


def test_every_msgid_in_the_code_and_templates_is_in_the_catalogues(tmp_path: Path) -> None:
    wanted = extracted_now(tmp_path)
    assert len(wanted) > 100, "makemessages found almost nothing: is it looking in centre/?"
    for language in ALL_LANGUAGES:
        present = {key(entry) for entry in live_entries(catalogue(language))}
        missing = sorted(wanted - present, key=repr)
        listed = "\n".join(msgid for _, msgid, _ in missing)
        assert not missing, f"{language}: not in the catalogue ({REGENERATE}):\n{listed}"


def translated(entry: polib.POEntry) -> bool:
    if entry.msgid_plural:  # nb and nn: one and other
        return sorted(entry.msgstr_plural) == [0, 1] and all(entry.msgstr_plural.values())
    return bool(entry.msgstr)


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_entry_is_translated_and_none_is_fuzzy(language: str) -> None:
    po = catalogue(language)
    assert po.metadata["Language"] == language
    assert po.metadata["Plural-Forms"] == "nplurals=2; plural=(n != 1);"
    assert not po.metadata_is_fuzzy, "a fuzzy header makes msgfmt skip the plural forms"
    entries = live_entries(po)
    assert len(entries) > 100
    fuzzy = [entry.msgid for entry in entries if "fuzzy" in entry.flags]
    assert not fuzzy, f"{language}: fuzzy entries are not used: {fuzzy}"
    empty = [entry.msgid for entry in entries if not translated(entry)]
    assert not empty, f"{language}: {len(empty)} entries not translated: {empty}"


@pytest.mark.parametrize("language", ALL_LANGUAGES)
def test_translations_keep_the_msgids_placeholders(language: str) -> None:
    wrong = []
    for entry in live_entries(catalogue(language)):
        if entry.msgid_plural:
            pairs = [(entry.msgid, entry.msgstr_plural.get(0, ""))]
            pairs += [(entry.msgid_plural, entry.msgstr_plural.get(1, ""))]
        else:
            pairs = [(entry.msgid, entry.msgstr)]
        for msgid, msgstr in pairs:
            if msgstr and placeholders(msgid) != placeholders(msgstr):
                wrong.append((msgid, msgstr))
    assert not wrong, f"{language}: placeholders differ from the msgid's: {wrong}"


def compiled(mo_path: Path) -> dict[Key, tuple[str, tuple[tuple[int, str], ...]]]:
    mo = polib.mofile(str(mo_path))
    entries = {
        key(entry): (entry.msgstr, tuple(sorted(entry.msgstr_plural.items()))) for entry in mo
    }
    entries[(None, "", None)] = ("\n".join(f"{k}: {v}" for k, v in sorted(mo.metadata.items())), ())
    return entries


@pytest.mark.parametrize("language", ALL_LANGUAGES)
def test_the_committed_mo_is_what_msgfmt_makes_of_the_committed_po(
    language: str, tmp_path: Path
) -> None:
    folder = LOCALE / language / "LC_MESSAGES"
    fresh = tmp_path / "django.mo"
    done = subprocess.run(
        [gettext_tool("msgfmt"), "--check", "-o", str(fresh), str(folder / "django.po")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (folder / "django.mo").is_file(), f"{language}: no compiled catalogue ({REGENERATE})"
    committed = compiled(folder / "django.mo")
    assert committed == compiled(fresh), f"{language}: django.mo is stale ({REGENERATE})"


# What a nurse sees on the worklist in each language, and words that must not be there then.
WORDS = {
    "nb": ({"Arbeidsliste", "Hovedmeny", "Logg ut", "Kommune", "Språk"}, {"Hovudmeny", "Worklist"}),
    "nn": ({"Arbeidsliste", "Hovudmeny", "Logg ut", "Kommune", "Språk"}, {"Hovedmeny", "Worklist"}),
    "en": ({"Worklist", "Main", "Sign out", "Municipality", "Language"}, {"Arbeidsliste"}),
}
LOGIN_WORDS = {"nb": "Brukernavn", "nn": "Brukarnamn", "en": "User name"}


@pytest.fixture
def kari(centre_db: str) -> str:
    oslo = Municipality.objects.create(name="Oslo", number="0301")
    Team.objects.create(name="Øst", municipality=oslo)
    add_user("kari", "nurse", ["Øst"], PASSWORD, "Kari Nordmann")
    return "kari"


def switch(client: Client, language: str, back_to: str = "/") -> str:
    response = client.post("/language/", {"language": language, "next": back_to})
    assert response.status_code == 302
    page = client.get(back_to)
    assert page.status_code == 200
    return page.content.decode()


def test_the_sign_in_page_is_in_bokmal_by_default_and_in_the_chosen_language(kari: str) -> None:
    client = Client()
    page = client.get("/login/").content.decode()
    assert '<html lang="nb">' in page and LOGIN_WORDS["nb"] in page
    for language in ("nn", "en", "nb"):
        page = switch(client, language, "/login/")
        assert f'<html lang="{language}">' in page and LOGIN_WORDS[language] in page


def test_the_worklist_shows_each_languages_words(kari: str) -> None:
    client = Client()
    sign_in(client, kari)
    for language in ("nb", "nn", "en", "nb"):
        page = switch(client, language)
        present, absent = WORDS[language]
        assert f'<html lang="{language}">' in page
        assert {word for word in present if word not in page} == set(), language
        assert {word for word in absent if word in page} == set(), language


def test_a_language_the_centre_does_not_have_leaves_the_page_as_it_was(kari: str) -> None:
    client = Client()
    sign_in(client, kari)
    for asked in ["xx", "<script>alert(1)</script>", "nb" * 5000, "de", "", "nb\x00"]:
        client.post("/language/", {"language": asked, "next": "/"})
        page = client.get("/").content.decode()
        assert '<html lang="nb">' in page and "Hovedmeny" in page, asked[:20]
        assert "<script>alert" not in page
