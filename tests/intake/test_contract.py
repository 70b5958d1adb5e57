"""The rest of the contract: catalog, one form, due dates, idempotency under
concurrency, gapless numbers, track, rate, report, recomputed clocks."""
import datetime as dt
import json
import uuid

import pytest
from nameko.exceptions import RemoteError

from services.intake import store as intake_store
from tests.intake.conftest import application


def test_list_items_and_form_for(intake, rpc):
    items = {i["code"]: i for i in rpc.intake.list_items()}
    assert len(items) >= 30
    est = items["ENT-EST"]
    assert est["kind"] == "committed" and est["departments"] == ["MR", "QS", "NTAX", "LTAX", "STAT"]
    assert est["timeout_policy"] == {c: "escalate" for c in est["departments"]}
    assert items["TRANS-ROAD"]["timeout_policy"]["PSB"] == "deemed_approval"
    assert {"code": "APP-FORM", "name": "申请表（一表制）", "required": True} in est["materials"]
    form = rpc.intake.form_for("ENT-EST")
    names = [f["name"] for f in form["fields"]]
    assert len(names) == len(set(names)) and form["declared_fields"] > 2 * len(names)
    capital = next(f for f in form["fields"] if f["name"] == "registered_capital")
    assert capital["type"] == "amount_fen" and capital["required"] and "STAT" in capital["departments"]
    with pytest.raises(RemoteError) as err:
        rpc.intake.form_for("NO-SUCH-ITEM")
    assert err.value.exc_type == "NotFound"


def test_due_date_over_national_day(intake, rpc):
    answer = rpc.intake.due_date("LAND-USE", "2025-09-26")
    assert (answer["due_date"], answer["provisional"]) == ("2025-10-20", False)
    assert rpc.intake.due_date("EPB-EIA-REG", "2025-09-30")["due_date"] == "2025-09-30"
    assert rpc.intake.due_date("EPB-EIA-REPORT", "2026-12-21")["provisional"] is True
    with pytest.raises(RemoteError) as err:
        rpc.intake.due_date("NO-SUCH-ITEM", "2025-09-26")
    assert err.value.exc_type == "ValidationFailed" and "item_code" in json.loads(err.value.value)


def test_two_identical_submits_at_the_same_instant_make_one_application(intake, rpc, intake_db):
    app = application("ENT-EST")
    replies = [rpc.intake.submit.call_async(app) for _ in range(2)]
    first, second = [r.result() for r in replies]
    assert first == second
    assert len(intake_db("SELECT 1 FROM applications WHERE client_ref = %s", (app["client_ref"],))) == 1
    assert rpc.intake.submit(app) == first


def test_numbers_are_unique_and_gapless_under_concurrency(intake, rpc, intake_db):
    bad = application("ENT-EST", channel="fax")
    replies = [rpc.intake.submit.call_async(application("ENT-NAME")) for _ in range(8)]
    with pytest.raises(RemoteError):
        rpc.intake.submit(bad)                        # a rejected call takes no number
    numbers = sorted(r.result()["application_no"] for r in replies)
    sequences = [int(n[-6:]) for n in numbers]
    assert sequences == list(range(sequences[0], sequences[0] + 8))
    assert all(n[:6] == numbers[0][:6] for n in numbers)


def test_track_masks_and_hides_the_case_from_a_wrong_phone(intake, rpc):
    app = application("PSB-SEAL", phone="13712345678")
    app["applicant"] = {"kind": "person", "name": "李小明", "id_number": "11010519491231002X", "phone": "13712345678"}
    no = rpc.intake.submit(app)["application_no"]
    seen = rpc.intake.track(no, "137 1234 5678")
    assert seen["status"] == "awaiting_payment" and seen["amount_due_fen"] == 4000
    assert seen["applicant"] == {"name_masked": "李**", "id_masked": "110*************2X"}
    assert "11010519491231002X" not in json.dumps(seen, ensure_ascii=False)
    errors = []
    for number, phone in ((no, "13700000000"), ("ZW1999999999", "13712345678"), (no, "not a phone")):
        with pytest.raises(RemoteError) as err:
            rpc.intake.track(number, phone)
        errors.append((err.value.exc_type, err.value.value))
    assert len(set(errors)) == 1 and errors[0][0] == "NotFound"


def test_rate_once_per_concluded_case_and_report(intake, rpc, outbox, publish, wait):
    today = rpc.intake.submit(application("ENT-NAME"))["receipt"]["accepted_on"]
    before = rpc.intake.report(today, today)
    open_case = rpc.intake.submit(application("MR-CHANGE"))["application_no"]
    done = rpc.intake.submit(application("ENT-NAME"))["application_no"]
    with pytest.raises(RemoteError) as err:
        rpc.intake.rate(open_case, 5)
    assert err.value.exc_type == "Conflict"
    with pytest.raises(RemoteError) as err:
        rpc.intake.rate(done, 6)
    assert err.value.exc_type == "ValidationFailed" and "score" in json.loads(err.value.value)
    rated = rpc.intake.rate(done, 5, "很快")
    assert rated["score"] == 5
    with pytest.raises(RemoteError) as err:
        rpc.intake.rate(done, 4)
    assert err.value.exc_type == "Conflict"
    assert [e["score"] for e in outbox(done, "application_rated")] == [5]
    paid = rpc.intake.submit(application("PSB-SEAL"))["application_no"]
    publish("fees", "bill_paid", {"application_no": paid, "bill_no": f"B-{paid}", "total_fen": 4000, "lines": [],
                                  "method": "cash", "payment_ref": f"p-{paid}", "receipt_no": f"R-{paid}",
                                  "paid_at": dt.datetime.now(dt.timezone.utc).isoformat()})
    wait(lambda: rpc.intake.get(paid)["status"] == "completed", message="paid")
    after = rpc.intake.report(today, today)
    assert after["received"] == before["received"] + 3
    assert after["completed"] == before["completed"] + 2
    assert after["ratings"] == before["ratings"] + 1
    assert after["fees_fen"] == before["fees_fen"] + 4000
    assert 0 < after["instant_ratio"] < 1 and 0 < after["completion_rate"] <= 1
    assert 0 < after["satisfaction_rate"] <= 1
    assert after["headline"].startswith(f"{int(today[:4])}年") and "满意率" in after["headline"]
    with pytest.raises(RemoteError) as err:
        rpc.intake.report("2026-02-01", "2026-01-01")
    assert err.value.exc_type == "ValidationFailed"


def test_new_catalog_version_leaves_cases_in_flight_alone(intake, rpc, platform_env):
    from onewindow.db import UnitOfWork, connect_pool

    old = rpc.intake.submit(application("ENT-EST"))["application_no"]
    old_version = rpc.intake.get(old)["catalog_version"]
    document = intake_store.read_catalog_file()
    document["version"] = f"test-{uuid.uuid4().hex[:8]}"
    pool = connect_pool(platform_env["databases"]["intake"], min_size=1, max_size=1)
    try:
        for expected in ("loaded", "already loaded"):
            with UnitOfWork(pool, "intake") as unit:
                assert expected in intake_store.IntakeStore(unit).load_catalog(document)
        changed = dict(document, fees=dict(document["fees"], **{"MR-REG": dict(document["fees"]["MR-REG"],
                                                                                   amount_fen=1)}))
        with pytest.raises(ValueError), UnitOfWork(pool, "intake") as unit:
            intake_store.IntakeStore(unit).load_catalog(changed)   # same version, other content
    finally:
        pool.close()
    new = rpc.intake.submit(application("ENT-EST"))["application_no"]
    assert rpc.intake.get(new)["catalog_version"] == document["version"]
    assert rpc.intake.get(old)["catalog_version"] == old_version != document["version"]


def test_recompute_provisional_after_a_year_is_loaded(intake, rpc, intake_db):
    no = rpc.intake.submit(application("MR-CHANGE"))["application_no"]   # 3 working days
    # a case whose clock started just before a year not yet published
    intake_db("UPDATE applications SET clock_started_on = '2026-12-29', due_date = '2027-01-01', "
              "provisional = true WHERE application_no = %s", (no,))
    intake_db("UPDATE case_departments SET due_date = '2027-01-01', provisional = true WHERE application_no = %s",
              (no,))
    try:
        counts = rpc.intake.recompute_provisional()
        assert counts["checked"] >= 1 and counts["still_provisional"] >= 1
        assert rpc.intake.get(no)["due_date"] == "2027-01-01"
        intake_db("INSERT INTO workday_overrides (day, is_workday, name) VALUES ('2027-01-01', false, '元旦')")
        intake_db("INSERT INTO calendar_years (year, source) VALUES (2027, 'test')")
        counts = rpc.intake.recompute_provisional()
        assert counts["updated"] >= 1
        record = rpc.intake.get(no)
        # 29 Dec 2026 + 3 working days: 30, 31 Dec, then Mon 4 Jan (1 Jan a holiday)
        assert (record["due_date"], record["provisional"]) == ("2027-01-04", False)
        assert (record["departments"][0]["due_date"], record["departments"][0]["provisional"]) == ("2027-01-04", False)
    finally:
        intake_db("DELETE FROM workday_overrides WHERE day = '2027-01-01'")
        intake_db("DELETE FROM calendar_years WHERE year = 2027")
        rpc.intake.recompute_provisional()   # forget the test year in the service's calendar too


def test_report_goes_on_without_a_hall_that_does_not_answer(intake, rpc, platform_env, monkeypatch):
    """A stopped hall leaves its queue behind; the call into it must not hold
    the report (and one of intake's workers) forever."""
    from kombu import Connection, Exchange, Queue

    monkeypatch.setenv("INTAKE_HALL_REPORT_TIMEOUT_SECONDS", "0.5")  # read at each call
    queue = Queue("rpc-hall", Exchange("nameko-rpc", type="topic", durable=True), routing_key="hall.*",
                  durable=True)
    with Connection(platform_env["amqp_uri"]) as conn:
        queue(conn.default_channel).declare()
        try:
            today = rpc.intake.due_date("ENT-NAME", "2026-03-02")["due_date"]
            figures = rpc.intake.report(today, today)
            assert figures["hall"] is False and figures["tickets"] == 0
        finally:
            queue(conn.default_channel).delete()
