"""What the models of the source formats share: strict reading, value types, and one way to report a bad field.

Each format has its models in its own module (``sloth_spec``, ``openslo_spec``, ``pyrra_spec``), apart from its
converter: a model module is the reference of what the format has (every field, including the ones ignored on
purpose), a converter module the account of what each field becomes. A document is parsed once, into its model;
the converter then reads attributes and raises ``ImportProblem`` only for what the format allows but kpi.dev
cannot carry over (a plugin, a calendar window, a query language that is not PromQL).

Source formats are read strictly: a field the format does not have is refused (``extra="forbid"``) rather than
dropped, because a silently dropped field (a misspelt ``error_query``, a Pyrra option) would change what the
imported SLO measures or alerts on. It is reported before the other fields of the same mapping, with the fields
the mapping does have, since an unknown field is most often a misspelt known one.

The value types take YAML as people write these specs: an empty string is an absent value, a number may be
written as a string (Pyrra's ``target: "99.5"``) and stays an int when whole (so ``95`` is written back as ``95``,
not ``95.0``), label and annotation values may be numbers. Booleans are only ``true`` / ``false``: ``"yes"`` in a
``disable`` is more likely a mistake than a wish.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Optional, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from .problem import ImportProblem, join

REQUIRED = "required field is missing"
_QUOTED = re.compile(r"'([^']*)'")


def _refuse(message: str) -> PydanticCustomError:
    """An error whose message is final: the translation below passes it through unchanged."""
    return PydanticCustomError("source", "{message}", {"message": message})


def _missing() -> PydanticCustomError:
    return PydanticCustomError("required", REQUIRED)


class SourceModel(BaseModel):
    """A mapping of a source format. ``what`` names it in messages ("a Sloth SLO")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    what: ClassVar[str] = "this mapping"

    @model_validator(mode="before")
    @classmethod
    def _unknown_fields_first(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = [field.alias or name for name, field in cls.model_fields.items()]
            for key in data:
                if key not in known:
                    raise PydanticCustomError(
                        "unknown_field",
                        "{message}",
                        {
                            "field": str(key),
                            "message": f"unknown field in {cls.what} (its fields: {', '.join(known)}); the importer does not "
                            "know what it means, so it refuses rather than drop it",
                        },
                    )
        return data


def spelling(model: type[BaseModel], name: str) -> str:
    """How the source writes the field ``name`` of ``model`` (its alias), for paths a converter builds itself."""
    field = model.model_fields[name]
    return field.alias or name


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], document: Any, at: str = "") -> M:
    """``document`` as ``model``, or the ``ImportProblem`` of its first bad field, with its path below ``at``."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise problem_of(error.errors(include_url=False)[0], at) from None


def problem_of(error: Any, at: str = "") -> ImportProblem:
    """One pydantic error as the field's dotted path in the source's spelling and a sentence a person can act on."""
    path = at
    for part in error["loc"]:
        path = join(path, part)
    kind = error["type"]
    value = error.get("input")
    context = error.get("ctx") or {}
    if kind == "unknown_field":
        return ImportProblem(join(path, context["field"]), context["message"])
    if "message" in context:
        return ImportProblem(path, context["message"])
    if kind in ("missing", "required") or value is None:
        return ImportProblem(path, REQUIRED)
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return ImportProblem(path, f"expected a mapping, got {type(value).__name__}")
    if kind == "list_type":
        return ImportProblem(path, f"expected a list, got {type(value).__name__}")
    if kind == "literal_error":
        allowed = ", ".join(option or "''" for option in _QUOTED.findall(str(context["expected"])))
        return ImportProblem(path, f"expected one of {allowed}, got {value!r}")
    if kind.startswith("int_"):
        return ImportProblem(path, f"expected a whole number, got {value!r}")
    return ImportProblem(path, error["msg"])


# --- value types ----------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None or value == "":
        raise _missing()
    if not isinstance(value, str):
        raise _refuse(f"expected a string, got {value!r}")
    return value


def _optional_text(value: Any) -> Optional[str]:
    return None if value is None or value == "" else _text(value)


def _tidy(value: float) -> float:
    return int(value) if value.is_integer() else value  # type: ignore[return-value]


def _number(value: Any) -> float:
    if value is None:
        raise _missing()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _tidy(float(value))
    if isinstance(value, str):
        try:
            return _tidy(float(value))
        except ValueError:
            pass
    raise _refuse(f"expected a number, got {value!r}")


def _optional_number(value: Any) -> Optional[float]:
    return None if value is None else _number(value)


def _optional_flag(value: Any) -> Optional[bool]:
    if value is None or isinstance(value, bool):
        return value
    raise _refuse(f"expected true or false, got {value!r}")


def _flag(value: Any) -> bool:
    return bool(_optional_flag(value))


def _string_value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _refuse(f"expected a string, got {value!r}")
    return str(value)


def _label_name(value: Any) -> str:
    if not isinstance(value, str):
        raise _refuse(f"expected a label name, got {value!r}")
    return value


NULL_IS_EMPTY_MAP = BeforeValidator(lambda value: {} if value is None else value)
"""``labels:`` with nothing after it is YAML's null: the same as no labels."""
NULL_IS_EMPTY_LIST = BeforeValidator(lambda value: [] if value is None else value)


Text = Annotated[str, PlainValidator(_text)]
"""A required string; empty counts as missing."""
OptionalText = Annotated[Optional[str], PlainValidator(_optional_text)]
Number = Annotated[float, PlainValidator(_number)]
"""A number, or a string holding one; whole numbers stay ints."""
OptionalNumber = Annotated[Optional[float], PlainValidator(_optional_number)]
Flag = Annotated[bool, PlainValidator(_flag)]
"""``true`` or ``false``; absent or null is false."""
OptionalFlag = Annotated[Optional[bool], PlainValidator(_optional_flag)]
"""``true``, ``false`` or absent, for options whose default is not false."""
Key = Annotated[str, PlainValidator(str)]
"""A map key; YAML reads ``1:`` as a number, and a label name is text."""
StringValue = Annotated[str, PlainValidator(_string_value)]
OptionalStringValue = Annotated[Optional[str], PlainValidator(_string_value)]
"""Absent is None; written, a string (numbers as text), as a label value is."""
LabelName = Annotated[str, PlainValidator(_label_name)]
StringMap = Annotated[dict[Key, StringValue], NULL_IS_EMPTY_MAP]
"""Labels or annotations: ``{name: value}``, numbers written as text."""
LabelNames = Annotated[list[LabelName], NULL_IS_EMPTY_LIST]
Anything = Any
"""A field of the format that the import does not read (server-written status, a plugin's own config)."""


def empty_map() -> Any:
    return Field(default_factory=dict)


def empty_list() -> Any:
    return Field(default_factory=list)


# --- Kubernetes -------------------------------------------------------------------------------------------------


class ObjectMeta(SourceModel):
    """Kubernetes object metadata, for the formats that are custom resources (Sloth's CR, Pyrra's SLO).

    ``name``, ``namespace``, ``labels`` and ``annotations`` are read. The others are what the API server writes
    (``kubectl get -o yaml`` prints them); they are accepted and ignored on purpose, so an object taken from a
    cluster imports as it is, and they say nothing about what the SLO measures.
    """

    what: ClassVar[str] = "Kubernetes object metadata"

    name: OptionalText = None
    namespace: OptionalText = None
    labels: StringMap = empty_map()
    annotations: StringMap = empty_map()
    generate_name: Anything = Field(None, alias="generateName")
    uid: Anything = None
    resource_version: Anything = Field(None, alias="resourceVersion")
    generation: Anything = None
    creation_timestamp: Anything = Field(None, alias="creationTimestamp")
    deletion_timestamp: Anything = Field(None, alias="deletionTimestamp")
    deletion_grace_period_seconds: Anything = Field(None, alias="deletionGracePeriodSeconds")
    owner_references: Anything = Field(None, alias="ownerReferences")
    finalizers: Anything = None
    managed_fields: Anything = Field(None, alias="managedFields")
    self_link: Anything = Field(None, alias="selfLink")
