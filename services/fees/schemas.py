"""fees schemas: the RPC arguments and the events fees consumes."""
from marshmallow import EXCLUDE, Schema, fields, validate

from . import domain

NON_EMPTY = validate.Length(min=1, max=200)


class FeeLineSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    fee_code = fields.String(required=True, validate=NON_EMPTY)
    name = fields.String(load_default="")
    department = fields.String(required=True, validate=NON_EMPTY)
    amount_fen = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    treasury_account = fields.String(required=True, validate=NON_EMPTY)


class ApplicantSchema(Schema):
    # only what fees passes on to notify; never the ID number
    class Meta:
        unknown = EXCLUDE

    name = fields.String(load_default="")
    name_masked = fields.String(load_default="")
    phone = fields.String(load_default="")


class DepartmentSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    code = fields.String(required=True)
    lead = fields.Boolean(load_default=False)


class ApplicationAcceptedSchema(Schema):
    """intake.application_accepted, as far as fees needs it."""

    class Meta:
        unknown = EXCLUDE

    application_no = fields.String(required=True, validate=NON_EMPTY)
    item_code = fields.String(load_default="")
    item_name = fields.String(load_default="")
    catalog_version = fields.Raw(load_default="")
    kind = fields.String(load_default="committed")
    accepted_on = fields.Date(load_default=None, allow_none=True)
    applicant = fields.Nested(ApplicantSchema, load_default=dict)
    departments = fields.List(fields.Nested(DepartmentSchema), load_default=list)
    fees = fields.List(fields.Nested(FeeLineSchema), load_default=list)
    free_registration = fields.Boolean(load_default=False)


class ReviewCompletedSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    application_no = fields.String(required=True, validate=NON_EMPTY)
    outcome = fields.String(required=True, validate=validate.OneOf(("approved", "rejected")))


class ApplicationNoSchema(Schema):
    application_no = fields.String(required=True, validate=NON_EMPTY)


class PaySchema(Schema):
    bill_no = fields.String(required=True, validate=NON_EMPTY)
    amount_fen = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    method = fields.String(required=True, validate=validate.OneOf(domain.PAYMENT_METHODS))
    payment_ref = fields.String(required=True, validate=NON_EMPTY)


class RefundSchema(Schema):
    bill_no = fields.String(required=True, validate=NON_EMPTY)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    refund_ref = fields.String(required=True, validate=NON_EMPTY)


class WaiveSchema(Schema):
    bill_no = fields.String(required=True, validate=NON_EMPTY)
    department = fields.String(required=True, validate=NON_EMPTY)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    waiver_ref = fields.String(required=True, validate=NON_EMPTY)
