"""fees' retention: a case settled or withdrawn before the cut-off keeps
only its applicant's masked name and phone; bills stay whole; an unpaid
bill's case keeps them."""
import datetime

from psycopg.types.json import Jsonb

from onewindow import retention
from onewindow.db import UnitOfWork, connect_pool
from services.fees.store import FeesStore

APPLICANT = {"name": "张三丰", "name_masked": "张*丰", "phone": "13912345678"}


def test_applicants_of_cases_settled_before_retention_are_masked(extra_database):
    pool = connect_pool(extra_database("fees"), min_size=1, max_size=1)
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=30)
    try:
        with UnitOfWork(pool, "fees") as unit:
            for no, status, paid_at, withdrawn_on in (("paid-long-ago", "paid", old, None),
                                                      ("paid-lately", "paid", "now", None),
                                                      ("unpaid-long", "unpaid", None, None),
                                                      ("withdrawn-long-ago", None, None, old.date())):
                unit.execute("INSERT INTO fee_cases (application_no, applicant, withdrawn_on, received_at) "
                             "VALUES (%s, %s, %s, %s)", (no, Jsonb(APPLICANT), withdrawn_on, old))
                if status:
                    unit.execute("INSERT INTO bills (bill_no, application_no, total_fen, gross_fen, status, issued_at, "
                                 "paid_at) VALUES (%s, %s, 100, 100, %s, %s, %s::timestamptz)",
                                 (f"B-{no}", no, status, old, paid_at))
        with UnitOfWork(pool, "fees") as unit:
            assert retention.purge(unit, FeesStore(unit))["applicants_masked"] == 2
        with UnitOfWork(pool, "fees") as unit:
            assert retention.purge(unit, FeesStore(unit))["applicants_masked"] == 0
            applicants = {r["application_no"]: r["applicant"] for r in unit.all("SELECT * FROM fee_cases")}
            bills = unit.one("SELECT count(*) AS n FROM bills")["n"]
    finally:
        pool.close()
    masked = dict(APPLICANT, name="", phone="139****5678")
    assert applicants == {"paid-long-ago": masked, "withdrawn-long-ago": masked,
                          "paid-lately": APPLICANT, "unpaid-long": APPLICANT}
    assert bills == 3
