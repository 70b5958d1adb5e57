"""marshmallow in, ValidationFailed out: every problem at once, by field path."""
import datetime
import decimal
import uuid

from marshmallow import ValidationError, fields

from . import personal
from .errors import ValidationFailed


def _mobile(value):
    if not personal.is_mainland_mobile(value):
        raise ValidationError("must be a mainland mobile number (11 digits starting 13-19)")


class MobilePhone(fields.String):
    """A mainland mobile number, kept as its 11 digits (+86, spaces and
    hyphens dropped): the one phone field of every service's schemas."""

    def __init__(self, **kwargs):
        super().__init__(validate=_mobile, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return personal.normal_phone(super()._deserialize(value, attr, data, **kwargs))


def flatten(messages, prefix=""):
    """{"applicant": {"phone": ["bad"]}} -> {"applicant.phone": ["bad"]}."""
    flat = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten(value, path))
    elif isinstance(messages, (list, tuple)) and all(isinstance(m, str) for m in messages):
        flat.setdefault(prefix or "_schema", []).extend(messages)
    elif isinstance(messages, (list, tuple)):
        for item in messages:
            for path, problems in flatten(item, prefix).items():
                flat.setdefault(path, []).extend(problems)
    else:
        flat.setdefault(prefix or "_schema", []).append(str(messages))
    return flat


def storable(value):
    """True when no string in `value` holds NUL or a lone surrogate: the
    walk every call and event takes, without naming paths it will not need."""
    if isinstance(value, str):
        if "\x00" in value:
            return False
        if value.isascii():
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(storable(key) and storable(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return all(storable(item) for item in value)
    return True


def text_problems(value, path):
    """Strings PostgreSQL cannot store (NUL) or that are not Unicode text
    (lone surrogates), wherever they sit in a call's arguments."""
    if storable(value):
        return {}
    problems = {}
    if isinstance(value, str):
        if "\x00" in value:
            problems.setdefault(path, []).append("must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            problems.setdefault(path, []).append("is not valid Unicode text")
    elif isinstance(value, dict):
        for key, item in value.items():
            problems.update(text_problems(key, f"{path}.<key>"))
            problems.update(text_problems(item, f"{path}.{key}"))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            problems.update(text_problems(item, f"{path}.{index}"))
    return problems


_SCHEMAS = {}


def schema_instance(schema):
    """One instance per schema class: making one copies every declared field,
    which costs more than a load; loading with an instance is reentrant."""
    if isinstance(schema, type):
        if schema not in _SCHEMAS:
            _SCHEMAS[schema] = schema()
        return _SCHEMAS[schema]
    return schema


def load(schema, data, **kwargs):
    """Load `data` with a marshmallow schema (class or instance) or raise
    ValidationFailed."""
    schema = schema_instance(schema)
    if not isinstance(data, dict):
        raise ValidationFailed({"_schema": ["must be an object"]})
    try:
        return schema.load(data, **kwargs)
    except ValidationError as exc:
        raise ValidationFailed(flatten(exc.messages)) from None


def wire(value):
    """Plain JSON values for replies and events.

    kombu's JSON encoder writes dates as {"__type__": ...} objects that only a
    kombu client can read; department systems get ISO strings instead."""
    if isinstance(value, (str, int, float)) or value is None:  # most of what is walked: first
        return value
    if isinstance(value, dict):
        return {str(k): wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [wire(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def described_by(schema):
    """Mark a loader whose schema is built at run time (per catalog item, say)
    with the static schema that describes its input for the API documents."""
    def mark(loader):
        loader.described_by = schema
        return loader
    return mark
