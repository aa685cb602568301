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
