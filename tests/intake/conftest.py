"""Fixtures of intake's integration tests: the service on the real broker
and database, applications that pass validation, and a way to play the
events of review, fees and notify."""
import uuid

import pytest

from services.intake.service import IntakeService

PERSON_ID = "11010519491231002X"
ENTERPRISE_USCC = "91350100M000100Y43"

ENT_EST_FORM = {
    "enterprise_name": "示例科技有限公司", "enterprise_type": "有限责任公司",
    "registered_address": "示例市人民路1号", "legal_rep_name": "张三",
    "legal_rep_id_number": PERSON_ID, "legal_rep_phone": "13812345678",
    "registered_capital": 100000000, "business_scope": "软件开发", "employee_count": 10,
}
ENT_EST_MATERIALS = ["APP-FORM", "ID-COPY", "ENT-ARTICLES", "ENT-NAME-NOTICE", "ENT-PREMISES"]

FORMS = {
    "ENT-EST": (ENT_EST_FORM, ENT_EST_MATERIALS),
    "ENT-NAME": ({"enterprise_name": "示例科技有限公司", "enterprise_type": "有限责任公司",
                  "registered_address": "示例市人民路1号", "business_scope": "软件开发"}, ["APP-FORM", "ID-COPY"]),
    "PSB-SEAL": ({"enterprise_name": "示例科技有限公司", "seal_type": "公章", "seal_count": 1},
                 ["ENT-LICENCE", "ID-COPY"]),
    "MR-CHANGE": ({"enterprise_name": "示例科技有限公司", "registered_address": "示例市人民路2号",
                   "legal_rep_name": "张三", "legal_rep_phone": "13812345678", "business_scope": "软件开发"},
                  ["APP-FORM", "ENT-LICENCE", "ENT-ARTICLES"]),
    "NTAX-REG": ({"enterprise_name": "示例科技有限公司", "registered_address": "示例市人民路1号",
                  "legal_rep_name": "张三", "legal_rep_phone": "13812345678", "vat_taxpayer_type": "小规模纳税人"},
                 ["TAX-FORM", "ENT-LICENCE"]),
}


def application(item_code="ENT-EST", *, phone="13912345678", materials=None, form=None, **overrides):
    default_form, default_materials = FORMS[item_code]
    app = {
        "client_ref": f"t-{uuid.uuid4().hex}",
        "item_code": item_code,
        "channel": "window",
        "applicant": {"kind": "enterprise", "name": "示例科技有限公司", "uscc": ENTERPRISE_USCC, "phone": phone},
        "form": dict(default_form if form is None else form),
        "materials": list(default_materials if materials is None else materials),
    }
    app.update(overrides)
    return app


@pytest.fixture
def intake(run_services):
    return run_services(IntakeService)


@pytest.fixture
def intake_db(service_sql):
    return lambda sql, params=None: service_sql("intake", sql, params)


@pytest.fixture
def publish(publish_event):
    """Publish an event as another service's outbox would."""
    return lambda source, event_type, payload: publish_event(
        source, event_type, {"occurred_at": "2026-03-02T10:00:00+08:00", **payload})


@pytest.fixture
def outbox(intake_db):
    """Events intake recorded for one application, oldest first."""
    def events(application_no, event_type=None):
        rows = intake_db("SELECT event_type, payload FROM outbox WHERE payload->>'application_no' = %s "
                         "ORDER BY id", (application_no,))
        return [dict(r["payload"], _type=r["event_type"]) for r in rows
                if event_type is None or r["event_type"] == event_type]
    return events
