"""notify schemas: the events it consumes (only the fields it reads; the
rest is ignored) and its RPC arguments."""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates

from onewindow import personal

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


class Document(Schema):
    class Meta:
        unknown = EXCLUDE

    document_no = fields.Str(required=True)
    document_name = fields.Str(required=True)


class ReviewCompleted(EventSchema):
    outcome = fields.Str(required=True, validate=validate.OneOf(["approved", "rejected"]))
    rejections = fields.List(fields.Nested(Rejection), load_default=list)
    documents = fields.List(fields.Nested(Document), load_default=list)


class TaskExtended(EventSchema):
    department = fields.Str(required=True)
    department_name = fields.Str(allow_none=True)
    working_days = fields.Int(required=True)
    due_date = fields.Str(required=True)
    reason = fields.Str(required=True)


class NoticeEscalated(EventSchema):
    notice_no = fields.Str(required=True)
    level = fields.Int(required=True, validate=validate.OneOf([2, 3]))
    recipient_phone = fields.Str(allow_none=True)
    department = fields.Str(required=True)
    department_name = fields.Str(allow_none=True)
    due_date = fields.Str(required=True)


class TaskUnstaffed(EventSchema):
    department = fields.Str(required=True)
    department_name = fields.Str(allow_none=True)
    due_date = fields.Str(required=True)
    supervisor_phone = fields.Str(allow_none=True)


class ReducedLine(Schema):
    class Meta:
        unknown = EXCLUDE

    line_no = fields.Int(allow_none=True)
    amount_fen = fields.Int(allow_none=True)
    legal_basis = fields.Str(allow_none=True)


class BillEvent(EventSchema):
    bill_no = fields.Str(required=True)
    total_fen = fields.Int(required=True, strict=True, validate=validate.Range(min=0))
    receipt_no = fields.Str(allow_none=True)
    reason = fields.Str(allow_none=True)
    reduced_fen = fields.Int(allow_none=True)
    reduced_lines = fields.List(fields.Nested(ReducedLine), load_default=list)


class ApplicationRefused(EventSchema):
    item_code = fields.Str(allow_none=True)
    item_name = fields.Str(allow_none=True)
    refusal_no = fields.Str(required=True)
    reasons = fields.List(fields.Str(), required=True)
    legal_basis = fields.Str(required=True)
    applicant = fields.Nested(Applicant, required=True)


class ApplicationWithdrawn(EventSchema):
    item_code = fields.Str(allow_none=True)
    item_name = fields.Str(allow_none=True)
    applicant = fields.Nested(Applicant, required=True)


class ComplaintEvent(Schema):
    """intake's complaint_received, _warning, _overdue and _answered."""

    class Meta:
        unknown = EXCLUDE

    event_id = fields.Str(required=True, validate=validate.Length(min=1))
    complaint_no = fields.Str(required=True, validate=validate.Length(min=1))
    application_no = fields.Str(allow_none=True)
    department = fields.Str(allow_none=True)
    department_name = fields.Str(allow_none=True)
    supervisor_phone = fields.Str(allow_none=True)
    phone = fields.Str(required=True)
    due_date = fields.Str(required=True)
    working_days_left = fields.Int(allow_none=True)
    working_days_overdue = fields.Int(allow_none=True)
    notice_no = fields.Str(allow_none=True)
    answer = fields.Str(allow_none=True)


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
        if value is not None and personal.normal_phone(value) is None:
            raise ValidationError("not a mainland mobile number")


class DeliveryReport(Schema):
    provider_message_id = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    status = fields.Str(required=True, validate=validate.OneOf(domain.RECEIPT_STATUSES))
    reason = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=500))


class HallEvent(Schema):
    """What notify needs of the hall's events: whom to tell and what about."""

    class Meta:
        unknown = EXCLUDE

    event_id = fields.Str(required=True, validate=validate.Length(min=1))
    phone = fields.Str(load_default=None, allow_none=True)
    channel = fields.Str(load_default=None, allow_none=True)
    ticket_no = fields.Str(load_default=None, allow_none=True)
    queue_name = fields.Str(load_default=None, allow_none=True)
    window_code = fields.Str(load_default=None, allow_none=True)
    ahead = fields.Int(load_default=None, allow_none=True)
    estimated_wait_minutes = fields.Int(load_default=None, allow_none=True)
    appointment_no = fields.Str(load_default=None, allow_none=True)
    item_code = fields.Str(load_default=None, allow_none=True)
    date = fields.Str(load_default=None, allow_none=True)
    slot = fields.Str(load_default=None, allow_none=True)
    visit_no = fields.Str(load_default=None, allow_none=True)
    kind = fields.Str(load_default=None, allow_none=True)
    assigned_to = fields.Str(load_default=None, allow_none=True)
    scheduled_date = fields.Str(load_default=None, allow_none=True)


class TrackingCode(Schema):
    """The portal's request to text a one-time tracking code."""

    class Meta:
        unknown = EXCLUDE

    event_id = fields.Str(required=True, validate=validate.Length(min=1))
    phone = fields.Str(required=True)
    code = fields.Str(required=True, validate=validate.Regexp(r"^[0-9]{6}$"))
    valid_minutes = fields.Int(required=True, validate=validate.Range(min=1, max=60))
