"""The sample catalog, the one form (一表制) and data minimisation."""
import copy

import pytest

from onewindow import personal
from services.intake import domain
from services.intake.store import read_catalog_file

DOC = read_catalog_file()


@pytest.fixture(scope="module")
def catalog():
    return domain.Catalog(DOC, 1)


def test_sample_catalog_is_a_realistic_city_centre(catalog):
    assert len(catalog.departments) >= 12
    assert {"MR", "QS", "NTAX", "LTAX", "STAT", "PSB", "LAND", "EPB", "HOUSING", "TRANS", "HRSS", "WATER"} <= set(
        catalog.departments)
    assert len(catalog.items) >= 30
    kinds = {i["kind"] for i in catalog.items.values()}
    assert kinds == {"instant", "committed"}
    assert any(i["free_registration"] and i["fees"] for i in catalog.items.values())
    assert any(d["timeout_policy"] == "deemed_approval" for i in catalog.items.values() for d in i["departments"])
    for dept in catalog.departments.values():
        assert dept["roster"]["primary"]["phone"] and dept["roster"]["backup"]["phone"]
        assert personal.is_mainland_mobile(dept["supervisor_phone"])


@pytest.mark.parametrize("code,legal,committed,kind", [
    ("LAND-USE", 60, 12, "committed"), ("EPB-EIA-REPORT", 60, 15, "committed"),
    ("EPB-EIA-FORM", 30, 7, "committed"), ("EPB-EIA-REG", 7, 0, "instant")])
def test_published_limits(catalog, code, legal, committed, kind):
    item = catalog.item(code)
    assert (item["legal_limit_days"], item["committed_limit_days"], item["kind"]) == (legal, committed, kind)


def test_enterprise_establishment_one_form_is_the_union_of_five_departments(catalog):
    item = catalog.item("ENT-EST")
    assert [d["code"] for d in item["departments"]] == ["MR", "QS", "NTAX", "LTAX", "STAT"]
    assert item["departments"][0]["lead"] and not any(d["lead"] for d in item["departments"][1:])
    form = catalog.form(item)
    names = [f["name"] for f in form]
    assert len(names) == len(set(names))                       # every shared field once
    declared = catalog.declared_count(item)
    assert declared >= 130 and 45 <= len(form) <= 60
    assert len(form) == len({n for d in item["departments"] for n in d["fields"]})
    by_name = {f["name"]: f for f in form}
    assert by_name["enterprise_name"]["departments"] == ["MR", "QS", "NTAX", "LTAX", "STAT"]
    assert by_name["vat_taxpayer_type"]["departments"] == ["NTAX"]
    assert by_name["enterprise_type"]["choices"][0] == "有限责任公司"


def test_each_department_gets_only_the_fields_it_uses(catalog):
    item = catalog.item("ENT-EST")
    form = {f["name"]: f"v-{f['name']}" for f in catalog.form(item)}
    stat = catalog.department_fields(item, "STAT", form)
    assert set(stat) == set(catalog.department("STAT")["fields"])
    assert "legal_rep_id_number" not in stat and "bank_account" not in stat
    # a co-reviewer with its own field list in the item
    road = catalog.item("TRANS-ROAD")
    road_form = {f["name"]: 1 for f in catalog.form(road)}
    assert set(catalog.department_fields(road, "PSB", road_form)) == {"road_section", "occupation_days",
                                                                       "planned_start_date"}


def test_bill_lines_carry_the_treasury_account_and_free_registration_bills_nothing(catalog):
    lines = catalog.bill_lines(catalog.item("ENT-EST"))
    assert [(x["fee_code"], x["department"]) for x in lines] == [("MR-REG", "MR"), ("QS-CODE", "QS")]
    assert all(x["treasury_account"] for x in lines)
    assert catalog.item("NTAX-REG")["fees"] == ["NTAX-CERT"]
    assert catalog.bill_lines(catalog.item("NTAX-REG")) == []


def test_missing_materials_lists_every_required_one(catalog):
    item = catalog.item("ENT-EST")
    assert [m["code"] for m in catalog.missing_materials(item, ["APP-FORM", "ENT-OFFICERS"])] == [
        "ID-COPY", "ENT-ARTICLES", "ENT-NAME-NOTICE", "ENT-PREMISES"]


def test_an_inconsistent_catalog_is_refused_with_every_problem():
    doc = copy.deepcopy(DOC)
    doc["items"][0]["departments"].append({"code": "NOPE"})
    doc["items"][1]["fees"] = ["NO-FEE"]
    doc["fields"]["enterprise_name"]["type"] = "colour"
    with pytest.raises(domain.CatalogError) as err:
        domain.Catalog(doc)
    assert "unknown department NOPE" in str(err.value)
    assert "unknown fee NO-FEE" in str(err.value)
    assert "unknown type 'colour'" in str(err.value)


def test_checksum_changes_with_content():
    doc = copy.deepcopy(DOC)
    before = domain.catalog_checksum(doc)
    doc["fees"]["MR-REG"]["amount_fen"] += 1
    assert domain.catalog_checksum(doc) != before
