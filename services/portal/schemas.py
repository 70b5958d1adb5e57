"""The portal's own web forms (the one form is intake's: it checks that
one). Problems are worded for the applicant, in Chinese."""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates

from onewindow import personal

REQUIRED = {"required": "必填", "null": "必填", "invalid": "格式不正确"}


def _phone(value):
    if not personal.is_mainland_mobile(value):
        raise ValidationError("请填写11位手机号码")


class _Form(Schema):
    class Meta:
        unknown = EXCLUDE


class RatingForm(_Form):
    score = fields.Integer(required=True, error_messages=dict(REQUIRED, required="请选择评分"),
                           validate=validate.Range(min=1, max=5, error="评分为1到5"))
    comment = fields.String(load_default=None, validate=validate.Length(max=500, error="不超过500字"))

    @validates("comment")
    def _comment(self, value, **kwargs):
        if value is not None and not value.strip():
            raise ValidationError("请填写意见或留空")


class ComplaintForm(_Form):
    text = fields.String(required=True, error_messages=REQUIRED,
                         validate=validate.Length(min=5, max=2000, error="请用5到2000字说明投诉的事情"))
    phone = fields.String(required=True, error_messages=REQUIRED, validate=_phone)
    application_no = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Za-z0-9-]{4,40}$",
                                                                               error="受理编号格式不正确"))
    client_ref = fields.String(required=True, validate=validate.Length(min=1, max=200))


class TicketForm(_Form):
    queue_code = fields.String(required=True, error_messages=dict(REQUIRED, required="请选择办理业务"),
                               validate=validate.Length(min=1, max=20))
    phone = fields.String(required=True, error_messages=REQUIRED, validate=_phone)
    client_ref = fields.String(required=True, validate=validate.Length(min=1, max=200))


class BookingForm(_Form):
    item_code = fields.String(required=True, error_messages=dict(REQUIRED, required="请选择办理事项"),
                              validate=validate.Length(min=1, max=40))
    date = fields.Date(required=True, error_messages=dict(REQUIRED, invalid="请选择日期"))
    slot = fields.String(required=True, error_messages=dict(REQUIRED, required="请选择时段"),
                         validate=validate.Length(min=1, max=20))
    phone = fields.String(required=True, error_messages=REQUIRED, validate=_phone)
    client_ref = fields.String(required=True, validate=validate.Length(min=1, max=200))
