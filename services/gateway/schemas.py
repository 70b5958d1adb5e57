"""The gateway's own RPC arguments (the operator's calls)."""
from marshmallow import Schema, fields, validate

from onewindow.access import DEPARTMENT_CODE

required_text = dict(required=True, validate=validate.Length(min=1, max=200))


class Principal(Schema):
    principal = fields.String(**required_text)


class Webhook(Schema):
    department = fields.String(required=True, validate=validate.Regexp(DEPARTMENT_CODE,
                                                                       error="1-32 letters, digits or _"))
    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False)
    secret = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=16, max=200))


class Department(Schema):
    department = fields.String(**required_text)


class Deliveries(Schema):
    department = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))
    status = fields.String(load_default=None, allow_none=True,
                           validate=validate.OneOf(("pending", "delivered", "dead")))


class Redeliver(Schema):
    department = fields.String(**required_text)
    delivery_id = fields.UUID(load_default=None, allow_none=True)
