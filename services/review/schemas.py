"""review schemas: the payloads of the contract, in and out."""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from .domain import DECISIONS, NOTICE_LEVELS, NOTICE_STATUSES, TASK_STATUSES, decision_problems, parse_cursor

Text = fields.String
REVIEWER_MAX = 200
required_text = dict(required=True, validate=validate.Length(min=1, max=REVIEWER_MAX))


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
    result = fields.Nested(lambda: Document(), load_default=None, allow_none=True)

    @validates_schema(skip_on_field_errors=False)
    def cross_field(self, data, **kwargs):
        problems = decision_problems(data.get("decision"), data.get("opinion"), data.get("legal_basis"),
                                     data.get("missing_materials"), data.get("result"))
        if problems:
            raise ValidationError(problems)


class Document(Schema):
    """The licence or certificate an approval issues (出证)."""
    document_no = Text(**required_text)
    document_name = Text(**required_text)


class TasksQuery(Schema):
    department = Text(**required_text)
    status = Text(load_default=None, allow_none=True, validate=validate.OneOf(TASK_STATUSES))
    limit = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1, max=1000))
    offset = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0))


def _cursor(value):
    try:
        parse_cursor(value)
    except ValueError:
        raise ValidationError("not a cursor this feed returned") from None


class FeedQuery(Schema):
    department = Text(**required_text)
    after = Text(load_default=None, allow_none=True, validate=_cursor)
    limit = fields.Integer(load_default=100, strict=True, validate=validate.Range(min=1, max=1000))


class Extend(Schema):
    task_id = Text(**required_text)
    department = Text(**required_text)
    working_days = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=365))
    reason = Text(required=True, validate=validate.Length(min=1, max=4000))
    client_ref = Text(**required_text)


class Period(Schema):
    start = fields.Date(required=True)
    end = fields.Date(required=True)

    @validates_schema
    def ordered(self, data, **kwargs):
        if data["end"] < data["start"]:
            raise ValidationError({"end": ["before start"]})
        if not (2000 <= data["start"].year and data["end"].year <= 2100):
            raise ValidationError({"start": ["within 2000-2100"]})


class NoticesQuery(Schema):
    status = Text(load_default=None, allow_none=True, validate=validate.OneOf(NOTICE_STATUSES))


class AnswerNotice(Schema):
    notice_no = Text(**required_text)
    answer = Text(required=True, validate=validate.Length(min=1, max=4000))
    client_ref = Text(**required_text)


class SupervisionContact(Schema):
    level = fields.Integer(required=True, strict=True, validate=validate.OneOf([lv for lv in NOTICE_LEVELS if lv > 1]))
    name = Text(**required_text)
    phone = Text(required=True, validate=validate.Regexp(r"^1[3-9][0-9]{9}$", error="a mainland mobile number"))


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
    """A post is a reviewer id, {id, name, phone}, or a list of them (a pool)."""
    department = Text(**required_text)
    department_name = Text(load_default=None, allow_none=True)
    primary = fields.Raw(required=True)
    backup = fields.Raw(required=True, allow_none=True)
    primary_phone = Text(load_default=None, allow_none=True)
    backup_phone = Text(load_default=None, allow_none=True)

    @validates_schema(skip_on_field_errors=False)
    def posts(self, data, **kwargs):
        problems, seen = {}, {}
        for post in ("primary", "backup"):
            value = data.get(post)
            if value is None:
                if post == "primary" and post in data:
                    problems[post] = ["a reviewer id is required"]
                continue
            people = value if isinstance(value, list) else [value]
            if not people and post == "primary":
                problems[post] = ["at least one reviewer"]
            for index, person in enumerate(people):
                path = f"{post}.{index}" if isinstance(value, list) else post
                if isinstance(person, str):
                    if not person.strip():
                        problems[path] = ["a reviewer id is required"]
                        continue
                    reviewer = person.strip()
                    # the same limit as decide's `reviewer`: a rostered name
                    # must be one its holder can decide under
                    if len(reviewer) > REVIEWER_MAX:
                        problems[path] = [f"Length must be between 1 and {REVIEWER_MAX}."]
                        continue
                elif isinstance(person, dict):
                    found = Person().validate(person)
                    for key, messages in found.items():
                        problems[f"{path}.{key}"] = messages
                    if found:
                        continue
                    reviewer = person["id"].strip()
                else:
                    problems[path] = ["must be a reviewer id or {id, name, phone}"]
                    continue
                if reviewer in seen:
                    problems.setdefault(path, []).append(
                        "the backup must be another person" if post != seen[reviewer]
                        else "already on this post")
                seen.setdefault(reviewer, post)
        if problems:
            raise ValidationError(problems)


class SetAbsent(Schema):
    department = Text(**required_text)
    reviewer = Text(**required_text)
    absent = fields.Boolean(required=True, truthy={True}, falsy={False})


class AsOf(Schema):
    as_of = Text(load_default=None, allow_none=True)
    dry_run = fields.Boolean(load_default=False, truthy={True}, falsy={False})


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
    legal_limit_days = fields.Integer(load_default=None, allow_none=True)
    materials = fields.List(fields.Nested(lambda: CatalogMaterial()), load_default=list)  # the item's catalog
    green_channel = fields.Nested(lambda: GreenChannel(), load_default=None, allow_none=True)

    @validates_schema
    def every_department_has_a_date(self, data, **kwargs):
        problems = {}
        for index, department in enumerate(data.get("departments") or []):
            if department.get("due_date") is None and data.get("due_date") is None:
                problems[f"departments.{index}.due_date"] = ["no due date for the department nor the case"]
        if problems:
            raise ValidationError(problems)


class CatalogMaterial(Schema):
    class Meta:
        unknown = EXCLUDE

    code = Text(**required_text)
    name = Text(**required_text)


class GreenChannel(Schema):
    class Meta:
        unknown = EXCLUDE

    reason = Text(**required_text)


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


class ApplicationWithdrawn(Schema):
    class Meta:
        unknown = EXCLUDE

    event_id = Text(load_default=None, allow_none=True)
    application_no = Text(**required_text)
    reason = Text(load_default="", allow_none=True)
    withdrawn_on = fields.Date(load_default=None, allow_none=True)
    moot_departments = fields.List(Text(), load_default=list)
