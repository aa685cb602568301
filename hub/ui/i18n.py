"""Message catalogues for the patient's screen: every patient-facing string lives in a gettext
catalogue, `locale/<language>/LC_MESSAGES/patient.po` (msgid: the message key; msgstr: a
str.format template). Translators edit them with any .po tool.

Bokmål is the default and the reference catalogue; another language falls back to it key by key,
so a string missing from a translation still shows something a Norwegian patient can read.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib import resources

import polib

log = logging.getLogger(__name__)

DEFAULT_LANGUAGE = "nb"
LANGUAGES = ("nb", "nn", "en")  # the order the language button steps through


@cache
def load_messages(language: str) -> dict[str, str]:
    """The raw catalogue of `language` (key -> str.format template)."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
    path = resources.files("hub.ui").joinpath("locale", language, "LC_MESSAGES", "patient.po")
    catalogue = polib.pofile(path.read_text("utf-8"))
    # Untranslated or fuzzy entries fall back to bokmål rather than show a guess.
    return {
        entry.msgid: entry.msgstr
        for entry in catalogue
        if entry.msgstr and not entry.fuzzy and not entry.obsolete
    }


class Catalogue:
    """Translates message keys into one language, falling back to bokmål."""

    def __init__(self, language: str = DEFAULT_LANGUAGE) -> None:
        self._messages = load_messages(language)
        self._fallback = load_messages(DEFAULT_LANGUAGE)
        self.language = language

    def has(self, key: str) -> bool:
        return key in self._messages or key in self._fallback

    def translate(self, key: str, /, **params: object) -> str:
        template = self._messages.get(key)
        if template is None:
            template = self._fallback.get(key)
        if template is None:
            # A visible key is better than a crashed screen; tests keep this from happening.
            log.error("missing message %r", key)
            return key
        try:
            return template.format(**params)
        except (KeyError, IndexError, ValueError):
            log.exception("bad parameters %r for message %r (%s)", params, key, self.language)
            return template


def translate(key: str, /, language: str = DEFAULT_LANGUAGE, **params: object) -> str:
    """One-off translation; prefer a `Catalogue` when translating many keys."""
    return Catalogue(language).translate(key, **params)


def other_language(language: str) -> str:
    """The language the toggle button switches to."""
    return LANGUAGES[(LANGUAGES.index(language) + 1) % len(LANGUAGES)]
