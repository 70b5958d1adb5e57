"""intake schemas: the contract's payloads, and each item's one form built
from the catalog, so one load reports every problem by field path."""
import datetime

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Length, OneOf, Range

from onewindow import personal
from onewindow.errors import ValidationFailed
from onewindow.validation import MobilePhone, described_by, flatten, load

CHANNELS = ("window", "online", "mobile")
APPLICANT_KINDS = ("person", "enterprise")


def _resident_id(value):
    problems = personal.resident_id_problems(value)
    if problems:
        raise ValidationError(problems)


def _uscc(value):
    problems = personal.uscc_problems(value)
    if problems:
        raise ValidationError(problems)


class Text(fields.String):
    def __init__(self, **kwargs):
        kwargs.setdefault("validate", Length(min=1, max=1000))
        super().__init__(**kwargs)


class ResidentId(fields.String):
    def __init__(self, **kwargs):
        super().__init__(validate=_resident_id, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).upper()


class Uscc(fields.String):
    def __init__(self, **kwargs):
        super().__init__(validate=_uscc, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).upper()


class IsoDate(fields.Date):
    """Kept as ISO text in the form (the form is stored and sent as JSON)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).isoformat()


def form_field(spec):
    """The marshmallow field for one catalog form field."""
    required = bool(spec.get("required"))
    kind = spec["type"]
    if kind == "text":
        return Text(required=required)
    if kind == "integer":
        return fields.Integer(strict=True, required=required, validate=Range(min=0))
    if kind == "amount_fen":
        return fields.Integer(strict=True, required=required, validate=Range(min=0),
                              error_messages={"invalid": "must be a whole number of fen"})
    if kind == "date":
        return IsoDate(required=required)
    if kind == "choice":
        return fields.String(required=required, validate=OneOf(spec["choices"]))
    if kind == "phone":
        return MobilePhone(required=required)
    if kind == "id_number":
        return ResidentId(required=required)
    if kind == "uscc":
        return Uscc(required=required)
    raise ValueError(f"unknown field type {kind}")


class ApplicantSchema(Schema):
    kind = fields.String(required=True, validate=OneOf(APPLICANT_KINDS))
    name = Text(required=True)
    id_number = ResidentId()
    uscc = Uscc()
    phone = MobilePhone(required=True)

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def identity_for_kind(self, data, original_data, **kwargs):
        # A person is known by the resident ID, an enterprise by its USCC.
        original = original_data if isinstance(original_data, dict) else {}
        if original.get("kind") == "person" and original.get("id_number") is None:
            raise ValidationError("a person applies with a resident ID number", "id_number")
        if original.get("kind") == "enterprise" and original.get("uscc") is None:
            raise ValidationError("an enterprise applies with its unified social credit code", "uscc")


_FORM_SCHEMAS = {}


def form_schema(catalog, item):
    """The item's one form as a marshmallow schema (cached per catalog version)."""
    key = (catalog.version_no, catalog.label, item["code"])
    if key not in _FORM_SCHEMAS:
        spec = {f["name"]: form_field(catalog.fields[f["name"]]) for f in catalog.form(item)}
        _FORM_SCHEMAS[key] = Schema.from_dict(spec, name=f"Form_{item['code']}")
    return _FORM_SCHEMAS[key]


_APPLICATION_SCHEMAS = {}


def application_schema(catalog, item):
    """submit(application) for this catalog; with an unknown item the form and
    materials are only checked for shape, and the item code is reported.
    Built once per catalog version and item: building a schema class costs
    more than loading an application with it."""
    key = (catalog.version_no, catalog.label, item["code"] if item else None)
    if key not in _APPLICATION_SCHEMAS:
        _APPLICATION_SCHEMAS[key] = _application_schema(catalog, item)
    return _APPLICATION_SCHEMAS[key]


def _application_schema(catalog, item):
    if item is None:
        form = fields.Dict(required=True)
        materials = fields.List(fields.String(), required=True)
    else:
        form = fields.Nested(form_schema(catalog, item), required=True)
        materials = fields.List(
            fields.String(validate=OneOf([m["code"] for m in item["materials"]],
                                         error="unknown material code {input} for this item")),
            required=True)
    spec = {
        "client_ref": fields.String(required=True, validate=Length(min=1, max=200)),
        "item_code": fields.String(required=True, validate=OneOf(sorted(catalog.items), error="unknown item")),
        "channel": fields.String(required=True, validate=OneOf(CHANNELS)),
        "applicant": fields.Nested(ApplicantSchema, required=True),
        "form": form,
        "materials": materials,
        "green_channel": fields.Nested(GreenChannel, load_default=None, allow_none=True),
    }
    return Schema.from_dict(spec, name="Application")()


class ApplicationShape(Schema):
    """What every application looks like, whatever the item: the form's
    fields and the material codes depend on the item (see `form_for`)."""
    client_ref = fields.String(required=True, validate=Length(min=1, max=200))
    item_code = fields.String(required=True, metadata={"description": "a code of list_items"})
    channel = fields.String(required=True, validate=OneOf(CHANNELS))
    applicant = fields.Nested(ApplicantSchema, required=True)
    form = fields.Dict(required=True, metadata={"description": "the item's one form: see form_for(item_code)"})
    materials = fields.List(fields.String(), required=True, metadata={"description": "material codes handed in"})
    green_channel = fields.Nested(lambda: GreenChannel(), load_default=None, allow_none=True,
                                  metadata={"description": "绿色通道: {reason}; reviewed first everywhere"})


class GreenChannel(Schema):
    reason = fields.String(required=True, validate=Length(min=1, max=500))


@described_by(ApplicationShape)
def load_application(catalog, data):
    """The application as loaded, or ValidationFailed listing every problem."""
    if not isinstance(data, dict):
        raise ValidationFailed({"_schema": ["must be an object"]})
    item = catalog.item(data.get("item_code")) if isinstance(data.get("item_code"), str) else None
    loaded = load(application_schema(catalog, item), data)
    # the same material twice is one material
    loaded["materials"] = list(dict.fromkeys(loaded["materials"]))
    return loaded


class SupplementSchema(Schema):
    application_no = fields.String(required=True, validate=Length(min=1, max=40))
    materials = fields.List(fields.String(validate=Length(min=1, max=100)), required=True,
                            validate=Length(min=1, error="name at least one material"))
    client_ref = fields.String(required=True, validate=Length(min=1, max=200))


def check_supplied_materials(item, materials, requested=()):
    """Codes of the item's catalog, or ones review asked for by name."""
    known = {m["code"] for m in item["materials"]} | {m["code"] for m in requested}
    problems = {f"materials.{i}": [f"unknown material code {code} for this item"]
                for i, code in enumerate(materials) if code not in known}
    if problems:
        raise ValidationFailed(problems)


class DueDateQuery(Schema):
    item_code = fields.String(required=True)
    # a clerk's question about a real day: the calendar counts 2000 to 2100
    accepted_on = fields.Date(required=True, validate=Range(min=datetime.date(2000, 1, 1),
                                                            max=datetime.date(2100, 12, 31),
                                                            error="a date from 2000-01-01 to 2100-12-31"))


class TrackQuery(Schema):
    application_no = fields.String(required=True, validate=Length(min=1, max=40))
    phone = fields.String(required=True, validate=Length(min=1, max=20))


class Rating(Schema):
    application_no = fields.String(required=True, validate=Length(min=1, max=40))
    score = fields.Integer(strict=True, required=True, validate=Range(min=1, max=5, error="must be 1 to 5"))
    comment = fields.String(load_default=None, allow_none=True, validate=Length(max=500))


class Period(Schema):
    start = fields.Date(required=True)
    end = fields.Date(required=True)

    @validates_schema(skip_on_field_errors=False)
    def in_order(self, data, **kwargs):
        # also when another field is wrong: every problem at once
        if "start" in data and "end" in data and data["end"] < data["start"]:
            raise ValidationError("end is before start", "end")


class ApplicationNo(Schema):
    class Meta:
        unknown = EXCLUDE

    application_no = fields.String(required=True, validate=Length(min=1, max=40))


# ------------------------------------------------------------ the front office

INQUIRY_CHANNELS = ("window", "phone", "online", "mobile")
RANKING_BY = ("department", "window", "reviewer")


class RefusedApplicant(Schema):
    """Whom a refusal (不予受理) is addressed to: a name and a phone suffice;
    an ID number given is checked like at submit."""
    kind = fields.String(load_default="person", validate=OneOf(APPLICANT_KINDS))
    name = Text(required=True)
    id_number = ResidentId()
    uscc = Uscc()
    phone = MobilePhone(required=True)


class RefusedApplication(Schema):
    """An application the window refuses: it may name an item outside the
    catalog (outside the centre's remit), so only its shape is checked."""
    client_ref = fields.String(required=True, validate=Length(min=1, max=200))
    item_code = fields.String(load_default=None, allow_none=True, validate=Length(min=1, max=40))
    item_name = fields.String(load_default=None, allow_none=True, validate=Length(min=1, max=200))
    channel = fields.String(load_default="window", validate=OneOf(CHANNELS))
    applicant = fields.Nested(RefusedApplicant, required=True)
    form = fields.Dict(load_default=dict)
    materials = fields.List(fields.String(validate=Length(min=1, max=100)), load_default=list)

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def named_item(self, data, original_data, **kwargs):
        original = original_data if isinstance(original_data, dict) else {}
        if not original.get("item_code") and not original.get("item_name"):
            raise ValidationError("name the item applied for (item_code or item_name)", "item_name")


class Refusal(Schema):
    application = fields.Nested(RefusedApplication, required=True)
    reasons = fields.List(fields.String(validate=Length(min=1, max=500)), required=True,
                          validate=Length(min=1, max=20, error="name one to twenty reasons"))
    legal_basis = fields.String(required=True, validate=Length(min=1, max=500))


class Withdrawal(Schema):
    application_no = fields.String(required=True, validate=Length(min=1, max=40))
    reason = fields.String(required=True, validate=Length(min=1, max=500))
    client_ref = fields.String(required=True, validate=Length(min=1, max=200))


class Inquiry(Schema):
    channel = fields.String(required=True, validate=OneOf(INQUIRY_CHANNELS))
    topic = fields.String(required=True, validate=Length(min=1, max=200))
    answered_by = fields.String(required=True, validate=Length(min=1, max=100))
    item_code = fields.String(load_default=None, allow_none=True, validate=Length(min=1, max=40))
    phone = MobilePhone(load_default=None, allow_none=True)
    referred_to = fields.String(load_default=None, allow_none=True, validate=Length(min=1, max=200))
    client_ref = fields.String(load_default=None, allow_none=True, validate=Length(min=1, max=200))


class Complaint(Schema):
    text = fields.String(required=True, validate=Length(min=1, max=2000))
    phone = MobilePhone(required=True)
    application_no = fields.String(load_default=None, allow_none=True, validate=Length(min=1, max=40))
    department = fields.String(load_default=None, allow_none=True, validate=Length(min=1, max=40))
    client_ref = fields.String(load_default=None, allow_none=True, validate=Length(min=1, max=200))


class ComplaintQuery(Schema):
    status = fields.String(load_default=None, allow_none=True, validate=OneOf(("open", "answered")))


class ComplaintAnswer(Schema):
    complaint_no = fields.String(required=True, validate=Length(min=1, max=40))
    answer = fields.String(required=True, validate=Length(min=1, max=2000))
    client_ref = fields.String(required=True, validate=Length(min=1, max=200))


class SupervisionQuery(Schema):
    as_of = fields.Date(load_default=None, allow_none=True,
                        validate=Range(min=datetime.date(2000, 1, 1), max=datetime.date(2100, 12, 31),
                                       error="a date from 2000-01-01 to 2100-12-31"))


class RankingQuery(Period):
    by = fields.String(required=True, validate=OneOf(RANKING_BY))


__all__ = ["load", "flatten", "load_application", "form_schema", "SupplementSchema", "DueDateQuery",
           "TrackQuery", "Rating", "Period", "ApplicationNo", "check_supplied_materials", "Refusal",
           "Withdrawal", "Inquiry", "Complaint", "ComplaintQuery", "ComplaintAnswer", "SupervisionQuery",
           "RankingQuery"]
