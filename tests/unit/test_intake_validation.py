"""submit's validation lists every problem at once, by field path."""
import pytest

from onewindow.errors import ValidationFailed
from onewindow import personal
from services.intake import domain, schemas
from services.intake.store import read_catalog_file

CATALOG = domain.Catalog(read_catalog_file(), 1)
FORM = {"enterprise_name": "示例科技有限公司", "enterprise_type": "有限责任公司", "registered_address": "人民路1号",
        "legal_rep_name": "张三", "legal_rep_id_number": "11010519491231002X", "legal_rep_phone": "13812345678",
        "registered_capital": 100000000, "business_scope": "软件开发", "employee_count": 10}


def app(**kw):
    a = {"client_ref": "r1", "item_code": "ENT-EST", "channel": "window",
         "applicant": {"kind": "enterprise", "name": "示例科技有限公司", "uscc": "91350100M000100Y43",
                       "phone": "13912345678"},
         "form": dict(FORM), "materials": ["APP-FORM", "ID-COPY"]}
    a.update(kw)
    return a


def problems(data):
    with pytest.raises(ValidationFailed) as err:
        schemas.load_application(CATALOG, data)
    return err.value.problems


def test_a_good_application_loads_and_normalises():
    loaded = schemas.load_application(CATALOG, app(materials=["APP-FORM", "APP-FORM", "ID-COPY"],
                                                   applicant={"kind": "person", "name": "张三",
                                                              "id_number": "11010519491231002x",
                                                              "phone": "+86 138 1234 5678"}))
    assert loaded["materials"] == ["APP-FORM", "ID-COPY"]
    assert loaded["applicant"]["id_number"] == "11010519491231002X"
    assert loaded["applicant"]["phone"] == "13812345678"


def test_every_problem_is_listed_at_once():
    form = dict(FORM, registered_capital=12.5, employee_count="ten", establishment_date="2026-02-30",
                enterprise_type="合作社", legal_rep_phone="0755-1234567", legal_rep_id_number="110105194912310021",
                favourite_colour="red")
    del form["business_scope"]
    found = problems(app(channel="fax", form=form, materials=["APP-FORM", "NOPE", "ALSO-NOPE"],
                         applicant={"kind": "alien", "name": "", "phone": "123"}))
    assert set(found) == {
        "channel", "applicant.kind", "applicant.name", "applicant.phone",
        "form.registered_capital", "form.employee_count", "form.establishment_date", "form.enterprise_type",
        "form.legal_rep_phone", "form.legal_rep_id_number", "form.favourite_colour", "form.business_scope",
        "materials.1", "materials.2"}
    assert found["form.legal_rep_id_number"] == ["check digit of the ID number is wrong"]
    assert found["form.favourite_colour"] == ["Unknown field."]


def test_unknown_item_is_reported_with_the_other_problems():
    found = problems(app(item_code="NO-SUCH", channel="fax"))
    assert found["item_code"] == ["unknown item"]
    assert "channel" in found


def test_identity_is_required_for_the_kind_of_applicant():
    found = problems(app(applicant={"kind": "person", "name": "张三", "phone": "13812345678"}))
    assert found == {"applicant.id_number": ["a person applies with a resident ID number"]}
    found = problems(app(applicant={"kind": "enterprise", "name": "某公司", "uscc": "91350100M000100Y44",
                                    "phone": "13812345678"}))
    assert found == {"applicant.uscc": ["check character of the unified social credit code is wrong"]}


def test_impossible_birth_date_in_a_form_id_number():
    first17 = "11010519490230002"
    found = problems(app(form=dict(FORM, legal_rep_id_number=first17 + personal.resident_id_check_char(first17))))
    assert found == {"form.legal_rep_id_number": ["birth date in the ID number is not a real date"]}


def test_missing_top_level_parts():
    found = problems({"item_code": "ENT-EST"})
    assert set(found) == {"client_ref", "channel", "applicant", "form", "materials"}
