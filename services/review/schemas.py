"""review schemas: the payloads of the contract, in and out."""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from .domain import DECISIONS, TASK_STATUSES, decision_problems

Text = fields.String
required_text = dict(required=True, validate=validate.Length(min=1, max=200))


class Decide(Schema):
    class Meta:
        unknown = EXCLUDE

    task_id = Text(**required_text)
    department = Text(**required_text)
    reviewer = Text(**required_text)
    decision = Text(required=True, validate=validate.OneOf(DECISIONS))
    opinion = Text(load_default=None, allow_none=True, validate=validate.Length(max=4000))
    client_ref = Text(**required_text)
    # codes or {code, name}; checked in detail by domain.normalize_materials
    missing_materials = fields.List(fields.Raw(), load_default=None, allow_none=True)
    legal_basis = Text(load_default=None, allow_none=True, validate=validate.Length(max=4000))

    @validates_schema(skip_on_field_errors=False)
    def cross_field(self, data, **kwargs):
        problems = decision_problems(data.get("decision"), data.get("opinion"), data.get("legal_basis"),
                                     data.get("missing_materials"))
        if problems:
            raise ValidationError(problems)


class TasksQuery(Schema):
    department = Text(**required_text)
    status = Text(load_default=None, allow_none=True, validate=validate.OneOf(TASK_STATUSES))


class ApplicationQuery(Schema):
    application_no = Text(**required_text)


class Person(Schema):
    """A roster post: an id, or {id, name, phone}."""
    class Meta:
        unknown = EXCLUDE

    id = Text(**required_text)
    name = Text(load_default="", allow_none=True)
    phone = Text(load_default=None, allow_none=True)


class SetRoster(Schema):
    department = Text(**required_text)
    department_name = Text(load_default=None, allow_none=True)
    primary = fields.Raw(required=True)
    backup = fields.Raw(required=True, allow_none=True)
    primary_phone = Text(load_default=None, allow_none=True)
    backup_phone = Text(load_default=None, allow_none=True)

    @validates_schema(skip_on_field_errors=False)
    def posts(self, data, **kwargs):
        problems = {}
        for post in ("primary", "backup"):
            value = data.get(post)
            if value is None and post == "backup":
                continue
            if isinstance(value, str):
                if not value.strip():
                    problems[post] = ["a reviewer id is required"]
            elif isinstance(value, dict):
                found = Person().validate(value)
                for key, messages in found.items():
                    problems[f"{post}.{key}"] = messages
            elif post in data:
                problems[post] = ["must be a reviewer id or {id, name, phone}"]
        primary, backup = data.get("primary"), data.get("backup")
        primary_id = primary.get("id") if isinstance(primary, dict) else primary
        backup_id = backup.get("id") if isinstance(backup, dict) else backup
        if primary_id and backup_id and primary_id == backup_id:
            problems.setdefault("backup", []).append("the backup must be another person")
        if problems:
            raise ValidationError(problems)


class SetAbsent(Schema):
    department = Text(**required_text)
    reviewer = Text(**required_text)
    absent = fields.Boolean(required=True, truthy={True}, falsy={False})


class AsOf(Schema):
    as_of = Text(load_default=None, allow_none=True)


# ------------------------------------------------------------ events in

class EventPerson(Schema):
    class Meta:
        unknown = EXCLUDE

    id = Text(load_default=None, allow_none=True)
    name = Text(load_default=None, allow_none=True)
    phone = Text(load_default=None, allow_none=True)


class EventRoster(Schema):
    class Meta:
        unknown = EXCLUDE

    primary = fields.Nested(EventPerson, load_default=None, allow_none=True)
    backup = fields.Nested(EventPerson, load_default=None, allow_none=True)


class AcceptedDepartment(Schema):
    class Meta:
        unknown = EXCLUDE

    code = Text(**required_text)
    name = Text(load_default="", allow_none=True)
    lead = fields.Boolean(load_default=False)
    limit_days = fields.Integer(load_default=None, allow_none=True)
    due_date = fields.Date(load_default=None, allow_none=True)
    provisional = fields.Boolean(load_default=False)
    timeout_policy = Text(load_default="escalate", validate=validate.OneOf(("escalate", "deemed_approval")))
    roster = fields.Nested(EventRoster, load_default=None, allow_none=True)
    supervisor_phone = Text(load_default=None, allow_none=True)
    fields_ = fields.Dict(data_key="fields", attribute="fields", load_default=dict)


class ApplicationAccepted(Schema):
    class Meta:
        unknown = EXCLUDE

    event_id = Text(load_default=None, allow_none=True)
    application_no = Text(**required_text)
    item_code = Text(load_default="")
    item_name = Text(load_default="")
    accepted_on = fields.Date(required=True)
    due_date = fields.Date(load_default=None, allow_none=True)
    provisional = fields.Boolean(load_default=False)
    applicant = fields.Dict(load_default=dict)
    departments = fields.List(fields.Nested(AcceptedDepartment), load_default=list)
    fees = fields.List(fields.Dict(), load_default=list)

    @validates_schema
    def every_department_has_a_date(self, data, **kwargs):
        problems = {}
        for index, department in enumerate(data.get("departments") or []):
            if department.get("due_date") is None and data.get("due_date") is None:
                problems[f"departments.{index}.due_date"] = ["no due date for the department nor the case"]
        if problems:
            raise ValidationError(problems)


class SupplementedDepartment(Schema):
    class Meta:
        unknown = EXCLUDE

    code = Text(**required_text)
    due_date = fields.Date(required=True)
    provisional = fields.Boolean(load_default=False)


class MaterialsSupplemented(Schema):
    class Meta:
        unknown = EXCLUDE

    event_id = Text(load_default=None, allow_none=True)
    application_no = Text(**required_text)
    supplemented_on = fields.Date(required=True)
    due_date = fields.Date(load_default=None, allow_none=True)
    provisional = fields.Boolean(load_default=False)
    materials = fields.List(fields.Raw(), load_default=list)
    departments = fields.List(fields.Nested(SupplementedDepartment), load_default=list)
