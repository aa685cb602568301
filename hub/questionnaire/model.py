"""A FHIR R4 Questionnaire read into plain, checked data (pure; no I/O, no Textual).

Supported: item types group, display, boolean, choice (and open-choice), integer, decimal,
string (and text), date; items nested under groups and under questions; `required`; `prefix`;
`enableWhen` with every R4 operator and `enableBehavior`; answer options as `answerOption`
(valueCoding, valueString, valueInteger, valueDate) or as an `answerValueSet` that is either a
contained ValueSet or one of the few HL7 value sets built in here (`KNOWN_VALUE_SETS`; the hub
has no terminology server); ordinal scores from the `ordinalValue` or `itemWeight` extensions.

An item without text is shown by its code's display (or else its code, or else its linkId), as
questionnaires written for clinicians often are. A choice with no answer options can be answered
by no one: a required one is refused, an optional one is not asked. An open-choice without
options is a free-text question. Anything else in the JSON (other extensions, text, meta) is
ignored; an item type the engine cannot ask, or a broken reference, is refused with the item's
path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from hub.errors import HubError

SCORE_EXTENSIONS = frozenset(
    {
        "http://hl7.org/fhir/StructureDefinition/ordinalValue",
        "http://hl7.org/fhir/StructureDefinition/itemWeight",
    }
)
QUESTION_TYPES = frozenset({"boolean", "choice", "integer", "decimal", "string", "date"})
ALIASES = {"open-choice": "choice", "text": "string"}  # asked the same way on this screen
OPERATORS = frozenset({"exists", "=", "!=", ">", "<", ">=", "<="})
ORDERED_OPERATORS = frozenset({">", "<", ">=", "<="})
# enableWhen.answer[x] this engine compares (answerCoding is read separately).
ANSWER_TYPES: dict[str, type | tuple[type, ...]] = {
    "answerBoolean": bool,
    "answerInteger": int,
    "answerDecimal": (int, float),
    "answerString": str,
    "answerDate": str,
}


V2_0136 = "http://terminology.hl7.org/CodeSystem/v2-0136"  # HL7 v2 yes/no indicator
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"


class QuestionnaireError(HubError, ValueError):
    """A questionnaire this hub cannot ask, with the place in it and why."""


@dataclass(frozen=True)
class Coding:
    system: str | None
    code: str
    display: str | None = None

    def matches(self, other: Coding) -> bool:
        """Same code, and the same system where both name one."""
        return self.code == other.code and (
            self.system is None or other.system is None or self.system == other.system
        )

    def to_fhir(self) -> dict[str, str]:
        out = {"code": self.code}
        if self.system:
            out["system"] = self.system
        if self.display:
            out["display"] = self.display
        return out


AnswerValue = bool | int | float | str | Coding


@dataclass(frozen=True)
class AnswerOption:
    value: Coding | str | int
    score: float | None = None
    # A built-in value set's options name a message of the patient screen's catalogues, so
    # they show in the patient's language whatever language the questionnaire is in.
    label_key: str | None = None

    @property
    def label(self) -> str:
        if isinstance(self.value, Coding):
            return self.value.display or self.value.code
        return str(self.value)


# Value sets of the FHIR specification that questionnaires name by canonical URL, expanded here
# (a version after "|" is ignored). Their displays are the code systems' own (English): they go
# into the QuestionnaireResponse; the screen shows `label_key` instead.
KNOWN_VALUE_SETS: dict[str, tuple[AnswerOption, ...]] = {
    "http://hl7.org/fhir/ValueSet/yesnodontknow": (
        AnswerOption(Coding(V2_0136, "Y", "Yes"), label_key="q.yes"),
        AnswerOption(Coding(V2_0136, "N", "No"), label_key="q.no"),
        AnswerOption(
            Coding(DATA_ABSENT_REASON, "asked-unknown", "Don't know"), label_key="q.dont_know"
        ),
    ),
}


@dataclass(frozen=True)
class EnableWhen:
    question: str
    operator: str
    answer: AnswerValue


@dataclass(frozen=True)
class Item:
    link_id: str
    type: str
    text: str = ""
    required: bool = False
    options: tuple[AnswerOption, ...] = ()
    enable_when: tuple[EnableWhen, ...] = ()
    enable_behavior: str = "all"
    items: tuple[Item, ...] = ()
    path: str = ""  # where it stands in the JSON, for messages
    prefix: str = ""  # "1.2", "(a)": shown before the text
    codes: tuple[Coding, ...] = ()

    @property
    def is_question(self) -> bool:
        return self.type in QUESTION_TYPES

    @property
    def answerable(self) -> bool:
        """A question someone can answer: every one but a choice without options."""
        return self.is_question and (self.type != "choice" or bool(self.options))

    @property
    def label(self) -> str:
        """What the screen shows: the prefix and the text, or for want of text the code's
        display, the code, the linkId."""
        shown = (
            self.text
            or next((c.display for c in self.codes if c.display), None)
            or (self.codes[0].code if self.codes else self.link_id)
        )
        return f"{self.prefix} {shown}" if self.prefix else shown


@dataclass(frozen=True)
class Questionnaire:
    url: str
    version: str | None
    title: str
    language: str | None
    items: tuple[Item, ...]
    by_link_id: dict[str, Item] = field(default_factory=dict, compare=False, repr=False)

    @property
    def canonical(self) -> str:
        return f"{self.url}|{self.version}" if self.version else self.url


def parse_questionnaire(obj: Any) -> Questionnaire:
    """Read and check a Questionnaire; QuestionnaireError says what is wrong and where."""
    if not isinstance(obj, dict) or obj.get("resourceType") != "Questionnaire":
        raise QuestionnaireError("not a FHIR Questionnaire (resourceType)")
    url = obj.get("url") or (f"urn:dho:questionnaire:{obj['id']}" if obj.get("id") else None)
    if not isinstance(url, str):
        raise QuestionnaireError("the questionnaire has neither url nor id")
    contained = {
        f"#{r.get('id')}": r
        for r in obj.get("contained", [])
        if isinstance(r, dict) and r.get("resourceType") == "ValueSet"
    }
    items = tuple(
        _item(raw, f"item[{n}]", contained)
        for n, raw in enumerate(_list(obj, "item", "questionnaire"))
    )
    if not items:
        raise QuestionnaireError("the questionnaire has no items")
    by_link_id: dict[str, Item] = {}
    for item in _walk(items):
        if item.link_id in by_link_id:
            raise QuestionnaireError(f"{item.path}: linkId {item.link_id!r} is used twice")
        by_link_id[item.link_id] = item
    for item in _walk(items):
        for condition in item.enable_when:
            _check_condition(item, condition, by_link_id)
    version = obj.get("version")
    return Questionnaire(
        url=url,
        version=str(version) if version else None,
        title=str(obj.get("title") or obj.get("name") or url),
        language=obj.get("language"),
        items=items,
        by_link_id=by_link_id,
    )


def _walk(items: tuple[Item, ...]) -> list[Item]:
    out = []
    for item in items:
        out.append(item)
        out.extend(_walk(item.items))
    return out


def _list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise QuestionnaireError(f"{where}: {key} must be a list")
    return value


def _item(raw: Any, path: str, contained: dict[str, Any]) -> Item:
    if not isinstance(raw, dict):
        raise QuestionnaireError(f"{path}: not an item")
    link_id = raw.get("linkId")
    if not isinstance(link_id, str) or not link_id:
        raise QuestionnaireError(f"{path}: linkId is missing")
    kind = ALIASES.get(raw.get("type", ""), raw.get("type"))
    if kind not in QUESTION_TYPES | {"group", "display"}:
        raise QuestionnaireError(
            f"{path} ({link_id}): item type {raw.get('type')!r} cannot be asked on this screen"
        )
    if ("answerValueSet" in raw or "answerOption" in raw) and kind != "choice":
        raise QuestionnaireError(  # R4 allows them; this screen offers options for choices
            f"{path} ({link_id}): answer options on a {raw.get('type')!r} item are not "
            "supported here (only on choice and open-choice)"
        )
    options = _options(raw, path, link_id, contained) if kind == "choice" else ()
    if kind == "choice" and not options:
        if raw.get("type") == "open-choice":
            kind = "string"  # nothing to choose from: the free text open-choice allows
        elif raw.get("required"):
            raise QuestionnaireError(
                f"{path} ({link_id}): a required choice needs answer "
                "options (answerOption or answerValueSet)"
            )
    conditions = tuple(
        _condition(c, f"{path}.enableWhen[{n}]")
        for n, c in enumerate(_list(raw, "enableWhen", path))
    )
    behavior = raw.get("enableBehavior", "all")
    if len(conditions) > 1 and "enableBehavior" not in raw:
        raise QuestionnaireError(f"{path} ({link_id}): several enableWhen need enableBehavior")
    if behavior not in ("all", "any"):
        raise QuestionnaireError(f"{path} ({link_id}): enableBehavior {behavior!r}")
    children = tuple(
        _item(child, f"{path}.item[{n}]", contained)
        for n, child in enumerate(_list(raw, "item", path))
    )
    if kind == "display" and children:
        raise QuestionnaireError(f"{path} ({link_id}): a display item cannot have nested items")
    return Item(
        link_id=link_id,
        type=kind,
        text=str(raw.get("text", "")),
        required=bool(raw.get("required", False)),
        options=options,
        enable_when=conditions,
        enable_behavior=behavior,
        items=children,
        path=path,
        prefix=str(raw.get("prefix", "")),
        codes=_codes(raw.get("code")),
    )


def _codes(raw: Any) -> tuple[Coding, ...]:
    """The item's codes, for showing an item without text (a malformed one is passed over:
    the engine does not need them)."""
    return tuple(
        Coding(c.get("system"), c["code"], c.get("display"))
        for c in (raw if isinstance(raw, list) else [])
        if isinstance(c, dict) and isinstance(c.get("code"), str)
    )


def _score(extensions: Any) -> float | None:
    for ext in extensions if isinstance(extensions, list) else []:
        if isinstance(ext, dict) and ext.get("url") in SCORE_EXTENSIONS:
            value = ext.get("valueDecimal", ext.get("valueInteger"))
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
    return None


def _coding(raw: Any, where: str, system: str | None = None) -> Coding:
    if not isinstance(raw, dict) or not isinstance(raw.get("code"), str):
        raise QuestionnaireError(f"{where}: a coding needs a code")
    return Coding(raw.get("system", system), raw["code"], raw.get("display"))


def _options(
    raw: dict[str, Any], path: str, link_id: str, contained: dict[str, Any]
) -> tuple[AnswerOption, ...]:
    if "answerValueSet" in raw:
        return _value_set_options(raw["answerValueSet"], path, link_id, contained)
    options = []
    for n, option in enumerate(_list(raw, "answerOption", path)):
        where = f"{path}.answerOption[{n}]"
        if not isinstance(option, dict):
            raise QuestionnaireError(f"{where}: not an answer option")
        if "valueCoding" in option:
            coding = _coding(option["valueCoding"], where)
            score = _score(option.get("extension"))
            if score is None:  # some tools put it on the coding instead
                score = _score(option["valueCoding"].get("extension"))
            options.append(AnswerOption(coding, score))
        elif isinstance(option.get("valueInteger"), int):
            options.append(AnswerOption(option["valueInteger"], _score(option.get("extension"))))
        elif isinstance(text := option.get("valueString", option.get("valueDate")), str):
            options.append(AnswerOption(text, _score(option.get("extension"))))
        else:
            raise QuestionnaireError(f"{where} ({link_id}): answer option of an unsupported type")
    return tuple(options)


def _value_set_options(
    ref: Any, path: str, link_id: str, contained: dict[str, Any]
) -> tuple[AnswerOption, ...]:
    value_set = contained.get(ref) if isinstance(ref, str) else None
    if value_set is None:
        known = KNOWN_VALUE_SETS.get(ref.partition("|")[0]) if isinstance(ref, str) else None
        if known is not None:
            return known
        raise QuestionnaireError(
            f"{path} ({link_id}): answerValueSet {ref!r} is not a contained ValueSet nor one "
            f"built in ({', '.join(sorted(KNOWN_VALUE_SETS))}); this hub has no terminology "
            "server"
        )
    options = []
    for include in value_set.get("compose", {}).get("include", []):
        for concept in include.get("concept", []):
            coding = _coding(concept, f"{path} answerValueSet {ref}", include.get("system"))
            options.append(AnswerOption(coding, _score(concept.get("extension"))))
    return tuple(options)


def _condition(raw: Any, where: str) -> EnableWhen:
    if not isinstance(raw, dict) or not isinstance(raw.get("question"), str):
        raise QuestionnaireError(f"{where}: enableWhen needs a question")
    operator = raw.get("operator")
    if operator not in OPERATORS:
        raise QuestionnaireError(
            f"{where}: operator {operator!r} is not one of {', '.join(sorted(OPERATORS))}"
        )
    answers = [(k, v) for k, v in raw.items() if k.startswith("answer")]
    if len(answers) != 1:
        raise QuestionnaireError(f"{where}: enableWhen needs exactly one answer[x]")
    key, value = answers[0]
    answer: AnswerValue
    if key == "answerCoding":
        answer = _coding(value, where)
    elif isinstance(value, ANSWER_TYPES.get(key, ())):
        answer = cast(AnswerValue, value)
    else:
        raise QuestionnaireError(f"{where}: {key} is not supported here")
    if isinstance(answer, bool) and key != "answerBoolean":
        raise QuestionnaireError(f"{where}: {key} holds true/false")
    if operator == "exists" and not isinstance(answer, bool):
        raise QuestionnaireError(f"{where}: 'exists' needs answerBoolean")
    return EnableWhen(raw["question"], operator, answer)


def _check_condition(item: Item, condition: EnableWhen, by_link_id: dict[str, Item]) -> None:
    target = by_link_id.get(condition.question)
    where = f"{item.path} ({item.link_id}) enableWhen"
    if target is None or not target.is_question:
        raise QuestionnaireError(f"{where}: {condition.question!r} is not a question here")
    if condition.operator == "exists":
        return
    if condition.operator in ORDERED_OPERATORS and target.type not in (
        "integer",
        "decimal",
        "date",
        "choice",
    ):
        raise QuestionnaireError(
            f"{where}: {condition.operator!r} cannot compare {target.type} answers"
        )
    expected = {
        "boolean": bool,
        "integer": int | float,
        "decimal": int | float,
        "string": str,
        "date": str,
    }.get(target.type)
    if expected is not None and not isinstance(condition.answer, expected):
        raise QuestionnaireError(
            f"{where}: the answer does not fit {target.type} question {target.link_id!r}"
        )
