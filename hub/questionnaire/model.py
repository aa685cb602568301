"""A FHIR R4 Questionnaire read into plain, checked data (pure; no I/O, no Textual).

Supported: item types group, display, boolean, choice (and open-choice), integer, decimal,
string (and text), date; items nested under groups and under questions; `required`; `prefix`;
`enableWhen` with every R4 operator and `enableBehavior`; answer options as `answerOption`
(valueCoding, valueString, valueInteger, valueDate) or as an `answerValueSet` that is either a
contained ValueSet or one of the few HL7 value sets built in here (`KNOWN_VALUE_SETS`; the hub
has no terminology server); ordinal scores from the `ordinalValue` or `itemWeight` extensions;
bounds on integer and decimal questions from the `minValue`, `maxValue` and `maxDecimalPlaces`
extensions.

An item without text is shown by its code's display (or else its code, or else its linkId), as
questionnaires written for clinicians often are. A choice with no answer options can be answered
by no one: a required one is refused, an optional one is not asked. An open-choice without
options is a free-text question. Anything else in the JSON (other extensions, text, meta) is
ignored; an item type the engine cannot ask, a field of the wrong JSON type, or a broken
reference, is refused with the item's path: whatever the JSON, parsing ends in a Questionnaire or
a QuestionnaireError, never another exception.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any, cast

from hub.core.printable import unprintable_in
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


# FHIR R4 extensions on Questionnaire.item (each 0..1). minValue and maxValue take the item's own
# data type (valueInteger on an integer item, valueDecimal on a decimal one); maxDecimalPlaces
# takes valueInteger.
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
MAX_DECIMAL_PLACES = "http://hl7.org/fhir/StructureDefinition/maxDecimalPlaces"
BOUND_NAMES = {MIN_VALUE: "minValue", MAX_VALUE: "maxValue", MAX_DECIMAL_PLACES: "maxDecimalPlaces"}
BOUND_VALUE_KEY = {"integer": "valueInteger", "decimal": "valueDecimal"}
FHIR_INTEGER = (-(2**31), 2**31 - 1)  # FHIR's integer is 32-bit signed
# Sizes far past any questionnaire a patient answers daily on a touchscreen, and short of what
# would make every step of the screen slow or nesting exhaust Python's recursion.
MAX_ITEMS = 200
MAX_DEPTH = 16  # deeper than the downlink carries: its JSON depth limit nests items 15 deep
MAX_OPTIONS = 100  # answer options of one item, or concepts of one contained ValueSet
MAX_DECIMALS = 6  # maxDecimalPlaces: a keypad takes no more
# Decimals the keypad takes on a decimal item without maxDecimalPlaces (a measure with one
# decimal); hub.ui.flow.keypad_bounds uses it, so bounds are checked against what is typable.
DEFAULT_DECIMALS = 1
# The largest bound a decimal item may give: with MAX_DECIMALS decimals an answer up to it has
# at most 15 significant digits, so the keypad's number survives the float the answer is kept
# as (past 2**53 a float answer rounds below a bound the keypad said it met).
DECIMAL_LIMIT = 10**9

# What one question screen holds at the patient screen's smallest size, the kiosk's 50x15 cells
# (docs/kiosk.md): the whole text above the answer buttons, each button whole with its label. A
# questionnaire past these pushed its answer buttons off the screen: the patient could only
# cancel, every day. Measured by tests/test_questionnaire_fit.py (pilot tests at 50x15, 80x24 and
# 100x30 in nb, nn and en; 50x15 is the size that binds). Characters, measured with Norwegian
# text whose words are up to 20 letters: a text of longer words wraps sooner.
SCREEN_TEXT_CHARS = 140  # an item's text with its prefix: 3 lines of 48 columns above the keypad
SCREEN_LINE_CHARS = 48  # a line break in a text ends a line this long: it counts as 48
# An optional integer or decimal: "Hopp over" under the keypad leaves one line for the text.
SCREEN_TEXT_CHARS_KEYPAD_SKIP = 48
SCREEN_ANSWER_BUTTONS = 6  # a choice's options, and "Hopp over" on an optional one: 3 rows of 2
SCREEN_OPTION_CHARS = 34  # an option's label: 2 lines of an answer button 21 columns wide

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
    # Bounds of an integer or decimal question (FHIR minValue / maxValue, inclusive; an int on
    # an integer item); None where the questionnaire gives none.
    min_value: int | float | None = None
    max_value: int | float | None = None
    decimals: int | None = None  # maxDecimalPlaces of a decimal item; None: not given

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
    given_url = _string(obj, "url", "questionnaire")
    given_id = _string(obj, "id", "questionnaire")
    url = given_url or (f"urn:dho:questionnaire:{given_id}" if given_id else None)
    if url is None:
        raise QuestionnaireError("the questionnaire has neither url nor id")
    contained = {
        f"#{r['id']}": r
        for r in _list(obj, "contained", "questionnaire")
        if isinstance(r, dict)
        and r.get("resourceType") == "ValueSet"
        and isinstance(r.get("id"), str)
    }
    reader = _Reader(contained)
    items = tuple(
        reader.item(raw, f"item[{n}]", 1)
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
    title = _string(obj, "title", "questionnaire") or _string(obj, "name", "questionnaire") or url
    _check_shown_texts(title, items)
    _check_fits_screen(items)
    return Questionnaire(
        url=url,
        version=_string(obj, "version", "questionnaire") or None,
        title=title,
        language=_string(obj, "language", "questionnaire") or None,
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
        raise QuestionnaireError(f"{where}: {key} must be a list, not {_shown(value)}")
    return value


def _string(obj: dict[str, Any], key: str, where: str) -> str:
    """A text field ("" when absent or null); any other JSON type is refused."""
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise QuestionnaireError(f"{where}: {key} must be a text, not {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    """A value for a message: short, whatever the JSON (a repr of deep nesting could fail)."""
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if value is None or isinstance(value, bool | int | float):
        return "null" if value is None else repr(value)
    if isinstance(value, dict):
        return "an object"
    return "a list" if isinstance(value, list) else type(value).__name__


@dataclass
class _Reader:
    """Reads items, counting them on the way (a huge questionnaire is refused early)."""

    contained: dict[str, Any]
    count: int = 0

    def item(self, raw: Any, path: str, depth: int) -> Item:
        if not isinstance(raw, dict):
            raise QuestionnaireError(f"{path}: not an item")
        self.count += 1
        if self.count > MAX_ITEMS:
            raise QuestionnaireError(
                f"{path}: more than {MAX_ITEMS} items; a questionnaire for the patient's screen "
                "must be shorter"
            )
        if depth > MAX_DEPTH:
            raise QuestionnaireError(
                f"{path}: items nested more than {MAX_DEPTH} deep; flatten the questionnaire"
            )
        link_id = raw.get("linkId")
        if not isinstance(link_id, str) or not link_id:
            raise QuestionnaireError(f"{path}: linkId is missing")
        return self._item(raw, path, link_id, depth)

    def _item(self, raw: dict[str, Any], path: str, link_id: str, depth: int) -> Item:
        where = f"{path} ({link_id})"
        given_type = raw.get("type")
        kind = ALIASES.get(given_type, given_type) if isinstance(given_type, str) else None
        if kind not in QUESTION_TYPES | {"group", "display"}:
            raise QuestionnaireError(
                f"{where}: item type {_shown(given_type)} cannot be asked on this screen"
            )
        required = raw.get("required", False)
        if not isinstance(required, bool):
            raise QuestionnaireError(f"{where}: required must be true or false")
        if ("answerValueSet" in raw or "answerOption" in raw) and kind != "choice":
            raise QuestionnaireError(  # R4 allows them; this screen offers options for choices
                f"{where}: answer options on a {given_type!r} item are not "
                "supported here (only on choice and open-choice)"
            )
        options = self._options(raw, path, link_id) if kind == "choice" else ()
        if kind == "choice" and not options:
            if given_type == "open-choice":
                kind = "string"  # nothing to choose from: the free text open-choice allows
            elif required:
                raise QuestionnaireError(
                    f"{where}: a required choice needs answer "
                    "options (answerOption or answerValueSet)"
                )
        conditions = tuple(
            _condition(c, f"{path}.enableWhen[{n}]")
            for n, c in enumerate(_list(raw, "enableWhen", path))
        )
        behavior = raw.get("enableBehavior", "all")
        if len(conditions) > 1 and "enableBehavior" not in raw:
            raise QuestionnaireError(f"{where}: several enableWhen need enableBehavior")
        if behavior not in ("all", "any"):
            raise QuestionnaireError(
                f"{where}: enableBehavior {_shown(behavior)} is neither 'all' nor 'any'"
            )
        least, most, decimals = _bounds(raw, where, kind)
        children = tuple(
            self.item(child, f"{path}.item[{n}]", depth + 1)
            for n, child in enumerate(_list(raw, "item", path))
        )
        if kind == "display" and children:
            raise QuestionnaireError(f"{where}: a display item cannot have nested items")
        return Item(
            link_id=link_id,
            type=kind,
            text=_string(raw, "text", where),
            required=required,
            options=options,
            enable_when=conditions,
            enable_behavior=behavior,
            items=children,
            path=path,
            prefix=_string(raw, "prefix", where),
            codes=_codes(raw.get("code")),
            min_value=least,
            max_value=most,
            decimals=decimals,
        )

    def _options(self, raw: dict[str, Any], path: str, link_id: str) -> tuple[AnswerOption, ...]:
        if "answerValueSet" in raw:
            found = _value_set_options(raw["answerValueSet"], path, link_id, self.contained)
        else:
            found = _answer_options(_list(raw, "answerOption", path), path, link_id)
        if len(found) > MAX_OPTIONS:
            raise QuestionnaireError(
                f"{path} ({link_id}): {len(found)} answer options; the screen shows at most "
                f"{MAX_OPTIONS}"
            )
        return found


def _bounds(
    raw: dict[str, Any], where: str, kind: str
) -> tuple[int | float | None, int | float | None, int | None]:
    """minValue, maxValue and maxDecimalPlaces of an item, checked: each at most once, of the
    item's own type, finite, minValue not above maxValue, only where this hub uses them."""
    given: dict[str, Any] = {}
    for n, ext in enumerate(_list(raw, "extension", where)):
        if not isinstance(ext, dict):
            raise QuestionnaireError(f"{where}: extension[{n}] is not an extension")
        url = ext.get("url")
        if not isinstance(url, str) or url not in BOUND_NAMES:
            continue
        name = BOUND_NAMES[url]
        if name in given:
            raise QuestionnaireError(f"{where}: {name} is given twice; give it once")
        given[name] = _extension_value(ext, f"{where} {name}")
    if not given:
        return None, None, None
    if kind not in BOUND_VALUE_KEY:
        raise QuestionnaireError(
            f"{where}: {', '.join(given)} on a {kind} item; this hub takes bounds only on "
            "integer and decimal items"
        )
    least = _bound(given, "minValue", kind, where)
    most = _bound(given, "maxValue", kind, where)
    for name, value in (("minValue", least), ("maxValue", most)):
        if value is not None and value < 0:
            # -10..10 would be typed as 0..10: a loss of 2 taken as a gain of 2.
            raise QuestionnaireError(
                f"{where}: {name} {_shown(value)} allows answers below 0, and the patient's "
                "keypad has no minus key; ask for a number from 0 up (for a change, ask "
                "whether it went up or down, then by how much)"
            )
    if least is not None and most is not None and least > most:
        raise QuestionnaireError(f"{where}: minValue {least} is above maxValue {most}")
    decimals = _decimal_places(given, kind, where)
    _check_answerable(least, most, kind, decimals, where)
    return least, most, decimals


def _check_answerable(
    least: float | None, most: float | None, kind: str, decimals: int | None, where: str
) -> None:
    """Refuse bounds no keypad answer meets: the least number from minValue up with the
    decimals the keypad takes is above maxValue (0.2 to 0.8 with no decimals). A required
    question like that can never be answered, only cancelled, every day."""
    if most is None:  # the keypad's own largest answer is never below a minValue it takes
        return
    places = 0 if kind == "integer" else DEFAULT_DECIMALS if decimals is None else decimals
    step = Decimal(1).scaleb(-places)
    first = (_written(least or 0) / step).to_integral_value(ROUND_CEILING) * step
    if first <= _written(most):
        return
    if kind == "integer":
        allowed = "an integer item takes whole numbers only"
    elif decimals is None:
        allowed = f"without maxDecimalPlaces the keypad takes {places} decimal"
    else:
        allowed = f"maxDecimalPlaces {places}"
    raise QuestionnaireError(
        f"{where}: no answer fits: from minValue {_shown(least)} to maxValue {_shown(most)} "
        f"there is no number the patient can type ({allowed}); the first from minValue up "
        f"is {first}. Widen minValue or maxValue, or allow more decimals with "
        "maxDecimalPlaces"
    )


def _written(value: float) -> Decimal:
    """A bound as the Decimal it is written as, shortest (0.1 is 0.1, as the keypad and
    engine compare it)."""
    return Decimal(repr(value))


def _extension_value(ext: dict[str, Any], where: str) -> tuple[str, Any]:
    values = [(k, v) for k, v in ext.items() if isinstance(k, str) and k.startswith("value")]
    if len(values) != 1:
        raise QuestionnaireError(f"{where}: the extension needs exactly one value[x]")
    return values[0]


def _bound(given: dict[str, Any], name: str, kind: str, where: str) -> int | float | None:
    if name not in given:
        return None
    key, value = given[name]
    wanted = BOUND_VALUE_KEY[kind]
    if key != wanted:
        raise QuestionnaireError(f"{where}: {name} of a {kind} item must be {wanted}, not {key}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QuestionnaireError(f"{where}: {name} must be a number, not {_shown(value)}")
    if kind == "integer" and not (
        isinstance(value, int) and FHIR_INTEGER[0] <= value <= FHIR_INTEGER[1]
    ):
        raise QuestionnaireError(f"{where}: {name} {_shown(value)} is not a FHIR integer")
    if not math.isfinite(value):
        raise QuestionnaireError(f"{where}: {name} {_shown(value)} is not a finite number")
    if kind == "decimal" and abs(value) > DECIMAL_LIMIT:
        raise QuestionnaireError(
            f"{where}: {name} {_shown(value)} is larger than the patient's keypad takes for a "
            f"decimal item; give bounds from 0 to {DECIMAL_LIMIT}"
        )
    # 0.0 for -0.0, which the patient's screen showed as "-0".
    return 0.0 if value == 0 and isinstance(value, float) else value


def _decimal_places(given: dict[str, Any], kind: str, where: str) -> int | None:
    if "maxDecimalPlaces" not in given:
        return None
    key, value = given["maxDecimalPlaces"]
    if kind != "decimal":
        raise QuestionnaireError(f"{where}: maxDecimalPlaces on an integer item; leave it out")
    if key != "valueInteger" or isinstance(value, bool) or not isinstance(value, int):
        raise QuestionnaireError(f"{where}: maxDecimalPlaces must be a valueInteger")
    if not 0 <= value <= MAX_DECIMALS:
        raise QuestionnaireError(
            f"{where}: maxDecimalPlaces {value}; this screen takes 0 to {MAX_DECIMALS}"
        )
    return value


def _codes(raw: Any) -> tuple[Coding, ...]:
    """The item's codes, for showing an item without text (a malformed one is passed over:
    the engine does not need them)."""
    return tuple(
        Coding(_or_none(c.get("system")), c["code"], _or_none(c.get("display")))
        for c in (raw if isinstance(raw, list) else [])
        if isinstance(c, dict) and isinstance(c.get("code"), str)
    )


def _or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _score(extensions: Any) -> float | None:
    for ext in extensions if isinstance(extensions, list) else []:
        url = ext.get("url") if isinstance(ext, dict) else None
        if isinstance(url, str) and url in SCORE_EXTENSIONS:
            value = ext.get("valueDecimal", ext.get("valueInteger"))
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value) if math.isfinite(value) else None
    return None


def _coding(raw: Any, where: str, system: str | None = None) -> Coding:
    if not isinstance(raw, dict) or not isinstance(raw.get("code"), str) or not raw["code"]:
        raise QuestionnaireError(f"{where}: a coding needs a code")
    own_system, display = raw.get("system", system), raw.get("display")
    if not isinstance(own_system, str | None) or not isinstance(display, str | None):
        raise QuestionnaireError(f"{where}: a coding's system and display must be texts")
    return Coding(own_system, raw["code"], display)


def _answer_options(given: list[Any], path: str, link_id: str) -> tuple[AnswerOption, ...]:
    options = []
    for n, option in enumerate(given):
        where = f"{path}.answerOption[{n}]"
        if not isinstance(option, dict):
            raise QuestionnaireError(f"{where}: not an answer option")
        if "valueCoding" in option:
            coding = _coding(option["valueCoding"], where)
            score = _score(option.get("extension"))
            if score is None:  # some tools put it on the coding instead
                score = _score(option["valueCoding"].get("extension"))
            options.append(AnswerOption(coding, score))
        elif isinstance(number := option.get("valueInteger"), int) and not isinstance(number, bool):
            options.append(AnswerOption(number, _score(option.get("extension"))))
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
            f"{path} ({link_id}): answerValueSet {_shown(ref)} is not a contained ValueSet nor one "
            f"built in ({', '.join(sorted(KNOWN_VALUE_SETS))}); this hub has no terminology "
            "server"
        )
    where = f"{path} ({link_id}) answerValueSet {ref}"
    compose = value_set.get("compose", {})
    if not isinstance(compose, dict):
        raise QuestionnaireError(f"{where}: compose must be an object")
    options = []
    for include in _list(compose, "include", where):
        if not isinstance(include, dict) or not isinstance(include.get("system"), str | None):
            raise QuestionnaireError(f"{where}: an include must be an object with a text system")
        for concept in _list(include, "concept", where):
            coding = _coding(concept, where, include.get("system"))
            options.append(AnswerOption(coding, _score(concept.get("extension"))))
            if len(options) > MAX_OPTIONS:  # refused by the caller; stop reading here
                return tuple(options)
    return tuple(options)


def _condition(raw: Any, where: str) -> EnableWhen:
    if not isinstance(raw, dict) or not isinstance(raw.get("question"), str):
        raise QuestionnaireError(f"{where}: enableWhen needs a question")
    operator = raw.get("operator")
    if not isinstance(operator, str) or operator not in OPERATORS:
        raise QuestionnaireError(
            f"{where}: operator {_shown(operator)} is not one of {', '.join(sorted(OPERATORS))}"
        )
    answers = [(k, v) for k, v in raw.items() if isinstance(k, str) and k.startswith("answer")]
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
    if isinstance(answer, float) and not math.isfinite(answer):
        raise QuestionnaireError(f"{where}: {key} is not a finite number")
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


def _check_shown_texts(title: str, items: tuple[Item, ...]) -> None:
    """Refuse a control character in any text the screen shows (the title, each item's label,
    each option's): on the patient's terminal it would be a command (hub/core/printable.py)."""
    shown = [("the title", title)]
    for item in _walk(items):
        where = f"{item.path} ({item.link_id})"
        shown.append((f"{where} text", item.label))
        shown.extend(
            (f"{where} answer option {n + 1}", option.label)
            for n, option in enumerate(item.options)
            if option.label_key is None  # the screen's own words are shown for these
        )
    for where, text in shown:
        bad = unprintable_in(text)
        if bad is not None:
            raise QuestionnaireError(
                f"{where} holds a control character, {bad}: on the patient's screen it would "
                "be a command to the terminal, not text. Remove it and upload the questionnaire "
                "again"
            )


def _screen_chars(text: str) -> int:
    """A text's length on the screen: a line break ends its line, so counts as a whole line."""
    return len(text) + text.count("\n") * (SCREEN_LINE_CHARS - 1)


def _check_fits_screen(items: tuple[Item, ...]) -> None:
    """Refuse an item the patient's screen at 50x15 cannot show whole with its answers (the
    SCREEN_ limits): a text too long, too many options, an option's label too long."""
    for item in _walk(items):
        if item.type == "group":  # not shown: its items are
            continue
        where = f"{item.path} ({item.link_id})"
        limit, why = SCREEN_TEXT_CHARS, "above its answers"
        if item.type in ("integer", "decimal") and not item.required:
            limit = SCREEN_TEXT_CHARS_KEYPAD_SKIP
            why = "above the number keypad and 'skip' of an optional number question"
        length = _screen_chars(item.label)
        if length > limit:
            breaks = f" (a line break counts as {SCREEN_LINE_CHARS}: it ends its line)"
            breaks = breaks if "\n" in item.label else ""
            raise QuestionnaireError(
                f"{where} text is {length} characters long{breaks}; the patient's screen at its "
                f"smallest (50x15) shows at most {limit} {why}, or the answer buttons are pushed "
                "off it. Shorten the text and upload the questionnaire again"
            )
        if item.type == "choice":
            _check_options_fit(item, where)


def _check_options_fit(item: Item, where: str) -> None:
    buttons = len(item.options) + (0 if item.required else 1)
    if buttons > SCREEN_ANSWER_BUTTONS:
        skip = "" if item.required else " and 'skip' (the question is optional)"
        raise QuestionnaireError(
            f"{where}: {len(item.options)} answer options{skip} make {buttons} answer buttons; "
            f"the patient's screen at its smallest (50x15) has room for "
            f"{SCREEN_ANSWER_BUTTONS}. Give fewer options"
            + ("" if item.required else ", or make the question required")
        )
    for n, option in enumerate(item.options):
        length = _screen_chars(option.label)
        if option.label_key is None and length > SCREEN_OPTION_CHARS:
            raise QuestionnaireError(
                f"{where} answer option {n + 1} is {length} characters long; an answer button "
                f"on the patient's screen at its smallest (50x15) shows at most "
                f"{SCREEN_OPTION_CHARS}. Shorten it and upload the questionnaire again"
            )
