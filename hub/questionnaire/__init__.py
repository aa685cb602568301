"""FHIR R4 questionnaires: the model, the engine, and the questionnaires this hub ships."""

from __future__ import annotations

import functools
import json
from importlib import resources

from hub.questionnaire.model import Questionnaire, QuestionnaireError, parse_questionnaire

SHIPPED = ("copd-daily", "heart-failure-daily")
# Every shipped questionnaire is in each of these: bokmål, nynorsk, English.
SHIPPED_LANGUAGES = ("nb", "nn", "en")


@functools.cache  # the screen asks every second; the files do not change while it runs
def load_shipped(name: str, language: str) -> Questionnaire:
    """One of the questionnaires in `data/`, in one of `SHIPPED_LANGUAGES` (same url, version,
    linkIds, types, branching and answer codes in each; only the words differ)."""
    if name not in SHIPPED:
        raise QuestionnaireError(f"no shipped questionnaire {name!r}; there are {SHIPPED}")
    if language not in SHIPPED_LANGUAGES:
        raise QuestionnaireError(
            f"the questionnaire {name!r} is not shipped in {language!r}; "
            f"it is in {', '.join(SHIPPED_LANGUAGES)}"
        )
    text = resources.files(__package__).joinpath("data", f"{name}.{language}.json").read_text()
    return parse_questionnaire(json.loads(text))


@functools.cache
def shipped_urls() -> dict[str, str]:
    """Each shipped questionnaire's canonical url, as its own files give it, to its name: what a
    care plan names it by. Every language of one must give the same url, and no two the same."""
    found: dict[str, str] = {}
    for name in SHIPPED:
        urls = {load_shipped(name, language).url for language in SHIPPED_LANGUAGES}
        if len(urls) != 1:
            raise QuestionnaireError(f"the languages of {name!r} give different urls: {urls}")
        (url,) = urls
        if url in found:
            raise QuestionnaireError(f"{name!r} and {found[url]!r} both give the url {url}")
        found[url] = name
    return found
