"""notify schemas: the events it consumes (only the fields it reads; the
rest is ignored) and its RPC arguments."""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates

from . import domain


class EventSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    event_id = fields.Str(required=True, validate=validate.Length(min=1))
    application_no = fields.Str(required=True, validate=validate.Length(min=1))


class Applicant(Schema):
    class Meta:
        unknown = EXCLUDE

    kind = fields.Str(allow_none=True)
    name = fields.Str(allow_none=True)
    name_masked = fields.Str(allow_none=True)
    phone = fields.Str(required=True)


class Fee(Schema):
    class Meta:
        unknown = EXCLUDE

    fee_code = fields.Str(allow_none=True)
    amount_fen = fields.Int(required=True, strict=True)


class Material(Schema):
    class Meta:
        unknown = EXCLUDE

    code = fields.Str(required=True)
    name = fields.Str(allow_none=True)


class ApplicationAccepted(EventSchema):
    item_code = fields.Str(allow_none=True)
    item_name = fields.Str(allow_none=True)
    status = fields.Str(load_default="accepted",
                        validate=validate.OneOf(["accepted", "completed", "awaiting_payment"]))
    due_date = fields.Str(allow_none=True)
    applicant = fields.Nested(Applicant, required=True)
    fees = fields.List(fields.Nested(Fee), load_default=list)
    collect = fields.Str(allow_none=True)


class IntakeMaterialsRequested(EventSchema):
    item_code = fields.Str(allow_none=True)
    item_name = fields.Str(allow_none=True)
    applicant = fields.Nested(Applicant, required=True)
    missing_materials = fields.List(fields.Nested(Material), required=True, validate=validate.Length(min=1))


class ReviewMaterialsRequested(EventSchema):
    missing_materials = fields.List(fields.Nested(Material), required=True, validate=validate.Length(min=1))


class Rejection(Schema):
    class Meta:
        unknown = EXCLUDE

    department = fields.Str(allow_none=True)
    department_name = fields.Str(allow_none=True)
    opinion = fields.Str(allow_none=True)
    legal_basis = fields.Str(allow_none=True)


class ReviewCompleted(EventSchema):
    outcome = fields.Str(required=True, validate=validate.OneOf(["approved", "rejected"]))
    rejections = fields.List(fields.Nested(Rejection), load_default=list)


class BillEvent(EventSchema):
    bill_no = fields.Str(required=True)
    total_fen = fields.Int(required=True, strict=True, validate=validate.Range(min=0))
    receipt_no = fields.Str(allow_none=True)
    reason = fields.Str(allow_none=True)


class ApplicationCompleted(EventSchema):
    item_code = fields.Str(allow_none=True)
    item_name = fields.Str(allow_none=True)
    outcome = fields.Str(allow_none=True)
    applicant = fields.Nested(Applicant, allow_none=True)


class TaskWarning(EventSchema):
    task_id = fields.Raw(allow_none=True)
    department = fields.Str(required=True)
    department_name = fields.Str(allow_none=True)
    assignee = fields.Str(allow_none=True)
    assignee_phone = fields.Str(allow_none=True)
    due_date = fields.Str(required=True)
    working_days_left = fields.Int(load_default=1)


class TaskOverdue(TaskWarning):
    supervisor_phone = fields.Str(allow_none=True)
    working_days_overdue = fields.Int(required=True)
    notice_no = fields.Str(required=True)


class MessagesQuery(Schema):
    application_no = fields.Str(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    phone = fields.Str(load_default=None, allow_none=True)

    @validates("phone")
    def phone_is_mobile(self, value, **kwargs):
        if value is not None and domain.normalize_phone(value) is None:
            raise ValidationError("not a mainland mobile number")


class DeliveryReport(Schema):
    provider_message_id = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    status = fields.Str(required=True, validate=validate.OneOf(domain.RECEIPT_STATUSES))
    reason = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=500))
