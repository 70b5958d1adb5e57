"""hall schemas: the arguments of every RPC method (and of the web form)."""
from marshmallow import Schema, fields, validate

from onewindow.validation import MobilePhone

from . import domain

REF = validate.Length(min=1, max=100)
CODE = validate.Length(min=1, max=20)
TICKET_NO = validate.Regexp(r"^[A-Z][0-9]{3,5}$", error="must be a ticket number such as A001")
APPLICATION_NO = validate.Length(min=1, max=40)


class TakeTicket(Schema):
    queue_code = fields.String(required=True, validate=CODE)
    channel = fields.String(required=True, validate=validate.OneOf(domain.CHANNELS))
    client_ref = fields.String(required=True, validate=REF)
    phone = MobilePhone(load_default=None, allow_none=True)
    appointment_no = fields.String(load_default=None, allow_none=True, validate=CODE)
    green_channel = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))


class TicketQuery(Schema):
    ticket_no = fields.String(required=True, validate=TICKET_NO)
    day = fields.Date(load_default=None, allow_none=True)


class CallNext(Schema):
    window_code = fields.String(required=True, validate=CODE)
    client_ref = fields.String(required=True, validate=REF)


class AtWindow(Schema):
    ticket_no = fields.String(required=True, validate=TICKET_NO)
    window_code = fields.String(required=True, validate=CODE)
    client_ref = fields.String(required=True, validate=REF)


class Finish(Schema):
    ticket_no = fields.String(required=True, validate=TICKET_NO)
    outcome = fields.String(required=True, validate=validate.OneOf(domain.OUTCOMES))
    client_ref = fields.String(required=True, validate=REF)
    application_no = fields.String(load_default=None, allow_none=True, validate=APPLICATION_NO)


class Transfer(Schema):
    ticket_no = fields.String(required=True, validate=TICKET_NO)
    queue_code = fields.String(required=True, validate=CODE)
    client_ref = fields.String(required=True, validate=REF)


class CheckIn(Schema):
    ticket_no = fields.String(required=True, validate=TICKET_NO)
    client_ref = fields.String(required=True, validate=REF)


class SlotsQuery(Schema):
    item_code = fields.String(required=True, validate=CODE)
    date = fields.Date(required=True)


class Book(Schema):
    item_code = fields.String(required=True, validate=CODE)
    date = fields.Date(required=True)
    slot = fields.String(required=True, validate=validate.Length(min=1, max=20))
    phone = MobilePhone(required=True)
    client_ref = fields.String(required=True, validate=REF)


class AppointmentRef(Schema):
    appointment_no = fields.String(required=True, validate=CODE)
    client_ref = fields.String(required=True, validate=REF)


class AppointmentQuery(Schema):
    appointment_no = fields.String(required=True, validate=CODE)


class RequestVisit(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(domain.VISIT_KINDS))
    item_code = fields.String(required=True, validate=CODE)
    phone = MobilePhone(required=True)
    address = fields.String(required=True, validate=validate.Length(min=4, max=200))
    preferred_date = fields.Date(required=True)
    client_ref = fields.String(required=True, validate=REF)


class AssignVisit(Schema):
    visit_no = fields.String(required=True, validate=CODE)
    staff = fields.String(required=True, validate=validate.Length(min=1, max=100))
    client_ref = fields.String(required=True, validate=REF)
    scheduled_date = fields.Date(load_default=None, allow_none=True)


class CompleteVisit(Schema):
    visit_no = fields.String(required=True, validate=CODE)
    client_ref = fields.String(required=True, validate=REF)
    application_no = fields.String(load_default=None, allow_none=True, validate=APPLICATION_NO)


class VisitsQuery(Schema):
    status = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(domain.VISIT_STATUSES))


class Sweep(Schema):
    as_of = fields.AwareDateTime(load_default=None, allow_none=True)


class Period(Schema):
    start = fields.Date(required=True)
    end = fields.Date(required=True)
