"""FHIR R4 questionnaires: the model, the engine, and the questionnaires this hub ships."""

from __future__ import annotations

import functools
import json
from importlib import resources

from hub.questionnaire.model import Questionnaire, QuestionnaireError, parse_questionnaire

SHIPPED = ("copd-daily", "heart-failure-daily")


@functools.cache  # the screen asks every second; the files do not change while it runs
def load_shipped(name: str, language: str) -> Questionnaire:
    """One of the questionnaires in `data/`, in "nb" or "en" (same url, version and linkIds)."""
    if name not in SHIPPED:
        raise QuestionnaireError(f"no shipped questionnaire {name!r}; there are {SHIPPED}")
    text = resources.files(__package__).joinpath("data", f"{name}.{language}.json").read_text()
    return parse_questionnaire(json.loads(text))
