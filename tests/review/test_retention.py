"""review's retention: a case concluded before the cut-off keeps only its
applicant's masked name and phone; a case still under review keeps them."""
import datetime

from psycopg.types.json import Jsonb

from onewindow import retention
from onewindow.db import UnitOfWork, connect_pool
from services.review.store import ReviewStore

APPLICANT = {"kind": "person", "name": "张三丰", "name_masked": "张*丰", "phone": "13912345678"}


def test_applicants_of_cases_concluded_before_retention_are_masked(extra_database):
    pool = connect_pool(extra_database("review"), min_size=1, max_size=1)
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=30)
    try:
        with UnitOfWork(pool, "review") as unit:
            for no, status, at in (("approved-long-ago", "approved", old), ("withdrawn-long-ago", "withdrawn", old),
                                   ("approved-lately", "approved", None), ("in-review-long", "in_review", old)):
                unit.execute("INSERT INTO applications (application_no, applicant, status, completed_at, updated_at) "
                             "VALUES (%s, %s, %s, %s, COALESCE(%s, now()))",
                             (no, Jsonb(APPLICANT), status, at if status == "approved" else None, at))
        with UnitOfWork(pool, "review") as unit:
            assert retention.purge(unit, ReviewStore(unit))["applicants_masked"] == 2
        with UnitOfWork(pool, "review") as unit:
            assert retention.purge(unit, ReviewStore(unit))["applicants_masked"] == 0
            applicants = {r["application_no"]: r["applicant"] for r in unit.all("SELECT * FROM applications")}
    finally:
        pool.close()
    masked = dict(APPLICANT, name="", phone="139****5678")
    assert applicants == {"approved-long-ago": masked, "withdrawn-long-ago": masked,
                          "approved-lately": APPLICANT, "in-review-long": APPLICANT}
