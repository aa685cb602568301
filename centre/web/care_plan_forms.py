"""The care-plan editor's forms: the schedule, the limits, the questionnaire and the centre's
phone, checked by centre/care_plan_form.py (what the hub knows) with every message in the
nurse's language. No database: a view gives the plan the hub holds and gets the new one.

    editor = CarePlanEditor(request.POST, request.FILES, held=plan_the_hub_holds)
    if editor.is_valid():
        send(editor.plan)  # a hub.core.care_plan.CarePlan

The fields take text and leave every check to check_plan, so a problem has one code and one
message wherever it is found. With JavaScript off a limit's kind and value are one choice
("blood_pressure.systolic"), grouped by kind: a value always belongs to its kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.datastructures import MultiValueDict
from django.utils.formats import number_format
from django.utils.functional import lazy
from django.utils.text import capfirst, format_lazy
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from centre.care_plan_form import (
    LIMIT_VALUES,
    MAX_QUESTIONNAIRE_BYTES,
    SCHEDULE_KINDS,
    Code,
    EditorInput,
    LimitRow,
    Param,
    Problem,
    ScheduleRow,
    check_plan,
    initial_values,
    split_times,
)
from centre.web import words
from hub.core.care_plan import CarePlan
from hub.questionnaire import SHIPPED, SHIPPED_LANGUAGES, load_shipped

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# The words are the centre web's one set (centre/web/words.py); a field's label starts upper case.
KIND_LABELS: Mapping[str, StrOrPromise] = words.KIND_LABELS
VALUE_LABELS: Mapping[str, StrOrPromise] = {
    name: capfirst(text) for name, text in words.VALUE_WORDS.items()
}
UNIT_LABELS: Mapping[str, StrOrPromise] = words.UNIT_LABELS

MESSAGES: dict[Code, StrOrPromise] = {
    Code.NO_KIND: _("Choose what to measure."),
    Code.UNKNOWN_KIND: _("“%(kind)s” is not something the hub measures: choose from the list."),
    Code.KIND_TWICE: _("%(kind)s is in the schedule twice: put all its times in one row."),
    Code.NO_TIMES: _("Give at least one time, for example 08:00."),
    Code.TOO_MANY_TIMES: _("At most %(max)s times a day."),
    Code.BAD_TIME: _("“%(time)s” is not a time of day: write HH:MM, from 00:00 to 23:59."),
    Code.TIME_TWICE: _("%(time)s is given twice."),
    Code.QUESTIONNAIRE_NOT_CHOSEN: _(
        "The schedule asks for the questionnaire, but no questionnaire is chosen."
    ),
    Code.NO_VALUE: _("Choose which value of %(kind)s the limit is for."),
    Code.UNKNOWN_VALUE: _("“%(value)s” is not a value the hub measures for %(kind)s."),
    Code.LIMIT_TWICE: _("%(kind)s, %(value)s has limits in two rows: keep one."),
    Code.LIMIT_EMPTY: _("Give a lower limit, an upper limit or both."),
    Code.NOT_A_NUMBER: _("“%(text)s” is not a number."),
    Code.NOT_FINITE: _("“%(text)s” is not a number a limit can be."),
    Code.IMPLAUSIBLE: _(
        "%(text)s %(unit)s is outside what a patient can have (%(low)s to %(high)s %(unit)s): "
        "check for a typo."
    ),
    Code.MIN_ABOVE_MAX: _("The lower limit (%(min)s) is above the upper limit (%(max)s)."),
    Code.SCORE_UPPER_ONLY: _(
        "The questionnaire's score takes an upper limit only: answers scored above it show red."
    ),
    Code.UNKNOWN_QUESTIONNAIRE: _(
        "There is no questionnaire “%(name)s”: choose one from the list."
    ),
    Code.QUESTIONNAIRE_TWICE: _("Choose a questionnaire from the list or upload one, not both."),
    Code.QUESTIONNAIRE_TOO_LARGE: _("The questionnaire is larger than %(max_kb)s kB."),
    Code.QUESTIONNAIRE_TOO_DEEP: _("The questionnaire is nested deeper than %(max_depth)s levels."),
    Code.QUESTIONNAIRE_MALFORMED: _("The questionnaire is not valid JSON: %(reason)s"),
    Code.QUESTIONNAIRE_REFUSED: _("The hub cannot ask this questionnaire: %(reason)s"),
    Code.QUESTIONNAIRE_SHIPPED_URL: _(
        "This questionnaire has the url of the shipped questionnaire “%(name)s”, so the hub "
        "would show that one instead: choose it from the list, or give yours another url."
    ),
    Code.BAD_PHONE: _(
        "“%(phone)s” is not a Norwegian phone number: 8 digits, optionally after +47."
    ),
    Code.NOT_SENDABLE: _("The hub would refuse this plan: %(reason)s"),
}
NO_UPLOAD = _("Paste the questionnaire's JSON or upload its file.")

NO_QUESTIONNAIRE, UPLOADED = "", "uploaded"


def _shipped_title(name: str) -> str:
    """A shipped questionnaire's own title, in the nurse's language where the hub has it."""
    language = (get_language() or "nb").split("-")[0]
    return load_shipped(name, language if language in SHIPPED_LANGUAGES else "nb").title


shipped_title = lazy(_shipped_title, str)


def kind_label(kind: str) -> StrOrPromise:
    return KIND_LABELS.get(kind, kind)


def value_label(name: str) -> StrOrPromise:
    return VALUE_LABELS.get(name, name)


def unit_label(unit: str) -> StrOrPromise:
    return UNIT_LABELS.get(unit, unit)


def _measure_label(name: str, unit: str) -> StrOrPromise:
    if not unit:
        return value_label(name)  # a score has no unit
    return format_lazy("{} ({})", value_label(name), unit_label(unit))


def _measure_choices() -> list[tuple[Any, Any]]:
    """The values a limit can be set on, grouped by kind, labelled with their unit."""
    groups: list[tuple[Any, Any]] = [("", "---------")]
    for kind, values in LIMIT_VALUES.items():
        options = [
            (f"{kind}.{name}", _measure_label(name, spec.unit)) for name, spec in values.items()
        ]
        groups.append((kind_label(kind), options))
    return groups


class ScheduleRowForm(forms.Form):
    kind = forms.CharField(
        label=_("Measurement"),
        required=False,
        widget=forms.Select(
            choices=[("", "---------")] + [(k, kind_label(k)) for k in SCHEDULE_KINDS]
        ),
    )
    times = forms.CharField(
        label=_("Times"), required=False, help_text=_("For example 08:00, 20:00")
    )


class LimitRowForm(forms.Form):
    measure = forms.CharField(
        label=_("Value"), required=False, widget=forms.Select(choices=_measure_choices())
    )
    min = forms.CharField(label=_("Lower limit"), required=False)
    max = forms.CharField(label=_("Upper limit"), required=False)


class CarePlanForm(forms.Form):
    questionnaire = forms.CharField(
        label=_("Questionnaire"),
        required=False,
        widget=forms.Select(
            choices=[(NO_QUESTIONNAIRE, _("No questionnaire"))]
            + [(name, shipped_title(name)) for name in SHIPPED]
            + [(UPLOADED, _("Another questionnaire (paste or upload below)"))]
        ),
    )
    questionnaire_json = forms.CharField(
        label=_("Questionnaire (FHIR JSON)"), required=False, strip=False, widget=forms.Textarea
    )
    questionnaire_file = forms.FileField(label=_("Questionnaire file (FHIR JSON)"), required=False)
    centre_phone = forms.CharField(
        label=_("The centre's phone number"),
        required=False,
        help_text=_("Shown to the patient. 8 digits, for example 55 00 00 00"),
    )

    def uploaded(self) -> str | bytes:
        """The uploaded questionnaire: the file if one came, else the pasted text; at most one
        byte more than may be, so a huge file is never read whole."""
        if self.cleaned_data.get("questionnaire") != UPLOADED:
            return ""
        upload = self.cleaned_data.get("questionnaire_file")
        if isinstance(upload, UploadedFile):
            upload.seek(0)
            return bytes(upload.read(MAX_QUESTIONNAIRE_BYTES + 1))
        text = self.cleaned_data.get("questionnaire_json", "")
        return text if isinstance(text, str) else ""

    def shipped(self) -> str:
        chosen = self.cleaned_data.get("questionnaire", "")
        return chosen if isinstance(chosen, str) and chosen != UPLOADED else ""


ScheduleFormSet = forms.formset_factory(
    ScheduleRowForm,
    extra=2,
    max_num=len(SCHEDULE_KINDS),
    absolute_max=len(SCHEDULE_KINDS) + 2,
    validate_max=True,
)
_LIMIT_COUNT = sum(len(values) for values in LIMIT_VALUES.values())
LimitFormSet = forms.formset_factory(
    LimitRowForm,
    extra=3,
    max_num=_LIMIT_COUNT,
    absolute_max=_LIMIT_COUNT + 3,
    validate_max=True,
)


def _blank(data: Mapping[str, Any], fields: Sequence[str]) -> bool:
    return all(not str(data.get(name) or "").strip() for name in fields)


def _number(text: Param) -> Param:
    """A number in a message, written the nurse's way (37,5 in Norwegian)."""
    try:
        return number_format(Decimal(str(text)))
    except InvalidOperation:
        return text


def message_params(problem: Problem) -> dict[str, Any]:
    """A problem's params as its message shows them: kinds and values by their labels,
    numbers in the nurse's notation."""
    params: dict[str, Any] = dict(problem.params)
    if "kind" in params:
        params["kind"] = kind_label(str(params["kind"]))
    if "value" in params:
        params["value"] = value_label(str(params["value"]))
    if "unit" in params:
        params["unit"] = unit_label(str(params["unit"]))
    for name in ("low", "high", "min", "max") if problem.code != Code.TOO_MANY_TIMES else ():
        if name in params:
            params[name] = _number(params[name])
    return params


def problem_error(problem: Problem) -> ValidationError:
    return ValidationError(
        MESSAGES[problem.code], code=problem.code.value, params=message_params(problem)
    )


class CarePlanEditor:
    """The editor's three parts, checked together: `is_valid()` then `plan`."""

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        files: MultiValueDict[str, UploadedFile[Any]] | None = None,
        held: CarePlan | None = None,
    ) -> None:
        start = initial_values(held) if held is not None else EditorInput()
        self.main = CarePlanForm(
            data,
            files,
            initial={
                "questionnaire": start.shipped_questionnaire
                or (UPLOADED if start.uploaded_questionnaire else NO_QUESTIONNAIRE),
                "questionnaire_json": start.uploaded_questionnaire,
                "centre_phone": start.centre_phone,
            },
        )
        self.schedule = ScheduleFormSet(
            data,
            prefix="schedule",
            initial=[{"kind": r.kind, "times": ", ".join(r.times)} for r in start.schedule],
        )
        self.limits = LimitFormSet(
            data,
            prefix="limits",
            initial=[
                {"measure": f"{r.kind}.{r.value}", "min": r.min, "max": r.max} for r in start.limits
            ],
        )
        self.plan: CarePlan | None = None
        # What is wrong with the plan the hub holds (a hand-written one, from before the
        # editor): a choice list cannot show a kind it does not offer, so the page says it.
        self.held_problems: tuple[ValidationError, ...] = ()
        if held is not None and not isinstance(checked := check_plan(start), CarePlan):
            self.held_problems = tuple(problem_error(p) for p in checked)

    def is_valid(self) -> bool:
        valid = [part.is_valid() for part in (self.main, self.schedule, self.limits)]
        if not all(valid):
            return False
        if self.main.cleaned_data.get("questionnaire") == UPLOADED and not self.main.uploaded():
            self.main.add_error("questionnaire_json", ValidationError(NO_UPLOAD, code="no_upload"))
            return False
        schedule_rows, schedule_forms = self._schedule_rows()
        limit_rows, limit_forms = self._limit_rows()
        result = check_plan(
            EditorInput(
                schedule=schedule_rows,
                limits=limit_rows,
                shipped_questionnaire=self.main.shipped(),
                uploaded_questionnaire=self.main.uploaded(),
                centre_phone=str(self.main.cleaned_data.get("centre_phone") or ""),
            )
        )
        if isinstance(result, CarePlan):
            self.plan = result
            return True
        for problem in result:
            self._attach(problem, schedule_forms, limit_forms)
        return False

    def _schedule_rows(self) -> tuple[tuple[ScheduleRow, ...], Sequence[forms.Form]]:
        rows: list[ScheduleRow] = []
        used: list[forms.Form] = []
        for form in self.schedule.forms:
            data = form.cleaned_data
            if _blank(data, ("kind", "times")):
                continue  # an empty row, or one the nurse cleared: no row
            rows.append(ScheduleRow(str(data["kind"]), split_times(str(data["times"]))))
            used.append(form)
        return tuple(rows), used

    def _limit_rows(self) -> tuple[tuple[LimitRow, ...], Sequence[forms.Form]]:
        rows: list[LimitRow] = []
        used: list[forms.Form] = []
        for form in self.limits.forms:
            data = form.cleaned_data
            if _blank(data, ("measure", "min", "max")):
                continue
            kind, _dot, name = str(data["measure"]).partition(".")
            rows.append(LimitRow(kind, name, str(data["min"]), str(data["max"])))
            used.append(form)
        return tuple(rows), used

    def _attach(
        self, problem: Problem, schedule: Sequence[forms.Form], limits: Sequence[forms.Form]
    ) -> None:
        """Put the problem's message on the field it names."""
        error = problem_error(problem)
        part, *rest = problem.path
        if part == "schedule" and len(rest) >= 2:
            schedule[int(rest[0])].add_error(str(rest[1]), error)
        elif part == "limits" and len(rest) >= 2:
            field = "measure" if rest[1] in ("kind", "value") else str(rest[1])
            limits[int(rest[0])].add_error(field, error)
        elif part == "questionnaire":
            uploaded = rest == ["uploaded"]
            has_file = self.main.cleaned_data.get("questionnaire_file") is not None
            field = "questionnaire"
            if uploaded:
                field = "questionnaire_file" if has_file else "questionnaire_json"
            self.main.add_error(field, error)
        elif part == "centre_phone":
            self.main.add_error("centre_phone", error)
        else:
            self.main.add_error(None, error)
