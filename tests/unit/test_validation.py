import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from marshmallow import Schema, fields, validate

from onewindow.errors import ValidationFailed
from onewindow.validation import flatten, load, wire


class Applicant(Schema):
    name = fields.String(required=True)
    phone = fields.String(required=True, validate=validate.Regexp(r"^1[3-9]\d{9}$"))


class Application(Schema):
    client_ref = fields.String(required=True)
    applicant = fields.Nested(Applicant, required=True)
    materials = fields.List(fields.String(validate=validate.OneOf(["A", "B"])))


def test_every_problem_is_listed_by_path():
    with pytest.raises(ValidationFailed) as err:
        load(Application(), {"applicant": {"phone": "12"}, "materials": ["A", "Z"], "extra": 1})
    problems = json.loads(str(err.value))
    assert set(problems) == {"client_ref", "applicant.name", "applicant.phone", "materials.1", "extra"}


def test_not_an_object():
    with pytest.raises(ValidationFailed) as err:
        load(Application(), ["x"])
    assert json.loads(str(err.value)) == {"_schema": ["must be an object"]}


def test_flatten_nested_lists():
    assert flatten({"a": {0: ["bad"], "b": ["x", "y"]}}) == {"a.0": ["bad"], "a.b": ["x", "y"]}


def test_wire_makes_plain_json():
    value = {"d": dt.date(2026, 1, 2), "t": dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.timezone.utc),
             "u": uuid.UUID(int=1), "n": Decimal("12"), "l": (1, 2)}
    assert wire(value) == {"d": "2026-01-02", "t": "2026-01-02T03:04:00+00:00",
                           "u": "00000000-0000-0000-0000-000000000001", "n": 12, "l": [1, 2]}
