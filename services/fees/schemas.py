"""fees schemas: the RPC arguments and the events fees consumes."""
import datetime

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
    legal_basis = fields.String(load_default="")


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


class ApplicationWithdrawnSchema(Schema):
    """intake.application_withdrawn, as far as fees needs it."""

    class Meta:
        unknown = EXCLUDE

    application_no = fields.String(required=True, validate=NON_EMPTY)
    reason = fields.String(load_default="")
    withdrawn_on = fields.Date(required=True)
    accepted = fields.Boolean(load_default=True)


class ReductionLineSchema(Schema):
    fee_code = fields.String(required=True, validate=NON_EMPTY)
    amount_fen = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    legal_basis = fields.String(required=True, validate=validate.Length(min=1, max=500))


class ReduceSchema(Schema):
    bill_no = fields.String(required=True, validate=NON_EMPTY)
    department = fields.String(required=True, validate=NON_EMPTY)
    lines = fields.List(fields.Nested(ReductionLineSchema), required=True,
                        validate=validate.Length(min=1, error="name at least one line"))
    reduction_ref = fields.String(required=True, validate=NON_EMPTY)


class RemindQuery(Schema):
    as_of = fields.Date(load_default=None, allow_none=True,
                        validate=validate.Range(min=datetime.date(2000, 1, 1), max=datetime.date(2100, 12, 31),
                                                error="a date from 2000-01-01 to 2100-12-31"))
