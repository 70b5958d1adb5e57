"""SMS through Alibaba Cloud SMS (阿里云短信, Dysmsapi SendSms) and Tencent
Cloud SMS (腾讯云短信, SendSms 2021-01-11), with their official SDKs.

Both answer the provider interface of providers.py: `send(message)` returns
the provider's message id or raises ProviderError. The id is prefixed with
the provider's name ("aliyun:<BizId>", "tencent:<SerialNo>"): the receipt
callbacks (receipts.py) build the same id, and two providers never collide.

Provider-side keys: Alibaba's OutId and Tencent's SessionContext carry the
message's out_id, which both providers echo in their receipts, so a message
handed over again after a crash can be told apart from a new one.

Template ids: each provider gives its own id to a template it has approved
(Alibaba "SMS_123456789", Tencent "1234567"). ALIYUN_SMS_TEMPLATES and
TENCENT_SMS_TEMPLATES map our codes to theirs ("OW_ACCEPTED=SMS_1,..."); a
code not listed is sent as it is. Tencent templates take their parameters
by position ({1}, {2}, ...) in the order the placeholders appear in our
text (templates.yaml).
"""
import dataclasses
import json
import logging

from onewindow.config import Setting, non_negative_float

from .providers import ProviderError, out_id

log = logging.getLogger(__name__)

# Answers that no retry and no other provider can fix: the phone or the text
# is refused. Everything else (limits, balance, credentials, outages) is
# retried and may fail over to the fallback provider.
ALIYUN_PERMANENT = {"isv.MOBILE_NUMBER_ILLEGAL", "isv.MOBILE_COUNT_OVER_LIMIT", "isv.BLACK_KEY_CONTROL_LIMIT",
                    "isv.PARAM_LENGTH_LIMIT", "isv.INVALID_PARAMETERS"}
TENCENT_PERMANENT = {"InvalidParameterValue.IncorrectPhoneNumber", "FailedOperation.PhoneNumberInBlacklist",
                     "FailedOperation.ContainSensitiveWord", "InvalidParameterValue.ContentLengthLimit",
                     "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber"}


def _cloud_settings(name, prefix, endpoint, region):
    return {"key_id": Setting(prefix + "KEY_ID", ""), "key_secret": Setting(prefix + "KEY_SECRET", ""),
            "endpoint": Setting(prefix + "ENDPOINT", endpoint), "scheme": Setting(prefix + "SCHEME", "https"),
            "region": Setting(prefix + "REGION", region), "app_id": Setting(prefix + "APP_ID", ""),
            "templates": Setting(prefix + "TEMPLATES", "", parse_template_ids),
            "receipt_token": Setting(prefix + "RECEIPT_TOKEN", ""),
            "connect_timeout": Setting(prefix + "CONNECT_TIMEOUT", "3", non_negative_float),
            "read_timeout": Setting(prefix + "READ_TIMEOUT", "5", non_negative_float)}


def parse_template_ids(text):
    """"OW_ACCEPTED=SMS_1, OW_APPROVED=SMS_2" -> {"OW_ACCEPTED": "SMS_1", ...}."""
    ids, problems = {}, []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        code, sep, provider_id = (s.strip() for s in item.partition("="))
        if not sep or not code or not provider_id:
            problems.append(item)
        else:
            ids[code] = provider_id
    if problems:
        raise ValueError(f"template ids must read CODE=ID, not {', '.join(problems)}")
    return ids


@dataclasses.dataclass(frozen=True)
class CloudSettings:
    """One provider's account. `endpoint` and `scheme` are the provider's own
    unless set (tests point them at a local server)."""
    name: str
    key_id: str
    key_secret: str
    endpoint: str
    scheme: str
    region: str
    app_id: str
    templates: dict
    receipt_token: str
    connect_timeout: float
    read_timeout: float

    @classmethod
    def load(cls, name, cfg=None):
        values = {field: setting(cfg) for field, setting in CLOUD_SETTINGS[name].items()}
        return cls(name=name, **{k: v if k in ("templates", "connect_timeout", "read_timeout") else str(v)
                                 for k, v in values.items()})

    def problems(self):
        missing = [label for label, value in (("KEY_ID", self.key_id), ("KEY_SECRET", self.key_secret)) if not value]
        if self.name == "tencent" and not self.app_id:
            missing.append("APP_ID")
        return [f"{self.name}: {label} is not set" for label in missing]


def _positional_params(message):
    """Tencent's TemplateParamSet: values in the order the template's
    placeholders first appear in its text."""
    from .cases import TEMPLATES
    params = message.get("params") or {}
    order = []
    if message.get("template") in TEMPLATES:
        for name in TEMPLATES[message["template"]].variables:
            if name not in order:
                order.append(name)
    order += [name for name in params if name not in order]
    return [str(params[name]) for name in order if name in params]


class AliyunSms:
    """Dysmsapi SendSms, signed ACS3-HMAC-SHA256 by the SDK."""

    def __init__(self, settings, sign_name):
        from alibabacloud_dysmsapi20170525.client import Client
        from alibabacloud_tea_openapi import models as openapi

        self.name = "aliyun"
        self.settings = settings
        self.sign_name = sign_name
        self.client = Client(openapi.Config(
            access_key_id=settings.key_id, access_key_secret=settings.key_secret,
            endpoint=settings.endpoint, protocol=settings.scheme, region_id=settings.region,
            connect_timeout=int(settings.connect_timeout * 1000), read_timeout=int(settings.read_timeout * 1000)))

    def request(self, message):
        from alibabacloud_dysmsapi20170525 import models
        return models.SendSmsRequest(
            phone_numbers=message["phone"], sign_name=self.sign_name,
            template_code=self.settings.templates.get(message["template_code"], message["template_code"]),
            template_param=json.dumps(message.get("params") or {}, ensure_ascii=False, sort_keys=True),
            out_id=out_id(message))

    def send(self, message):
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
        try:
            answer = self.client.send_sms(self.request(message)).body
        except AlibabaCloudException as exc:
            # 4xx: refused before sending (signature, key, parameters); 5xx:
            # the provider failed on it, and may have taken it first
            code = str(getattr(exc, "code", "") or "error")
            status = getattr(exc, "status_code", None) or 0
            raise ProviderError(f"aliyun_{code}"[:60], str(getattr(exc, "message", exc))[:200],
                                maybe_sent=status >= 500) from None
        except Exception as exc:  # connection refused, timeouts: the SDK's own or requests'
            raise _transport_error(exc) from None
        return accepted("aliyun", answer.code, "OK", answer.message, ALIYUN_PERMANENT, answer.biz_id, "BizId")


class TencentSms:
    """SendSms 2021-01-11, signed TC3-HMAC-SHA256 by the SDK."""

    def __init__(self, settings, sign_name):
        from tencentcloud.common import credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.sms.v20210111 import sms_client

        self.name = "tencent"
        self.settings = settings
        self.sign_name = sign_name
        http = HttpProfile(protocol=settings.scheme, endpoint=settings.endpoint,
                           reqTimeout=max(1, int(settings.connect_timeout + settings.read_timeout)))
        self.client = sms_client.SmsClient(credential.Credential(settings.key_id, settings.key_secret),
                                           settings.region, ClientProfile(httpProfile=http))

    def request(self, message):
        from tencentcloud.sms.v20210111 import models
        request = models.SendSmsRequest()
        phone = message["phone"]
        request.PhoneNumberSet = [phone if phone.startswith("+") else f"+86{phone}"]
        request.SmsSdkAppId = self.settings.app_id
        request.SignName = self.sign_name
        request.TemplateId = self.settings.templates.get(message["template_code"], message["template_code"])
        request.TemplateParamSet = _positional_params(message)
        request.SessionContext = out_id(message)
        return request

    def send(self, message):
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
        try:
            answer = self.client.SendSms(self.request(message))
        except TencentCloudSDKException as exc:
            code = str(exc.code or "error")
            if code in ("ClientNetworkError", "ServerNetworkError"):
                raise _transport_error(exc) from None
            # an API error (AuthFailure.*, InternalError, ...): an answer, read
            raise ProviderError(f"tencent_{code}"[:60], str(exc.message or "")[:200],
                                maybe_sent=code.startswith("InternalError")) from None
        except Exception as exc:
            raise _transport_error(exc) from None
        statuses = answer.SendStatusSet or []
        if len(statuses) != 1:
            raise ProviderError("bad_response", f"{len(statuses)} send statuses for one number", maybe_sent=True)
        status = statuses[0]
        return accepted("tencent", status.Code, "Ok", status.Message, TENCENT_PERMANENT, status.SerialNo, "SerialNo")


def accepted(provider, code, ok, text, permanent, native_id, id_name):
    """The provider's answer for one number: our id for the message, or why
    not. A code in `permanent` refuses the number or the text for good."""
    code = str(code or "")
    if code != ok:
        raise ProviderError(code[:60] or "bad_response", str(text or "")[:200], retryable=code not in permanent)
    if not native_id:
        raise ProviderError("bad_response", f"no {id_name} in the answer", maybe_sent=True)
    return f"{provider}:{native_id}"


def _transport_error(exc):
    """No answer. Refused or unresolved: the provider never saw the request.
    Anything else (a timeout, a dropped connection): it may have taken it."""
    text = f"{type(exc).__name__} {exc}".lower()
    refused = any(s in text for s in ("refused", "name or service not known", "nodename nor servname",
                                      "no route to host", "newconnectionerror", "failed to resolve"))
    if refused:
        return ProviderError("connection", str(exc)[:200])
    if "timed out" in text or "timeout" in text:
        return ProviderError("read_timeout", str(exc)[:200], maybe_sent=True)
    return ProviderError("connection", str(exc)[:200], maybe_sent=True)


def build(name, cfg, sign_name):
    settings = CloudSettings.load(name, cfg)
    problems = settings.problems()
    if problems:
        raise ValueError("; ".join(problems))
    return (AliyunSms if name == "aliyun" else TencentSms)(settings, sign_name)


# ALIYUN_SMS_* and TENCENT_SMS_*, declared with the platform's settings
CLOUD_SETTINGS = {
    "aliyun": _cloud_settings("aliyun", "ALIYUN_SMS_", "dysmsapi.aliyuncs.com", "cn-hangzhou"),
    "tencent": _cloud_settings("tencent", "TENCENT_SMS_", "sms.tencentcloudapi.com", "ap-guangzhou"),
}
