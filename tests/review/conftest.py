"""Fixtures for review's integration tests: feed it intake's events, read its
tables directly, and build realistic accepted cases."""
import os
import uuid

import pytest
from kombu import Exchange

from services.review.service import ReviewService
from tests.conftest import rows_at

INTAKE_EVENTS = Exchange("intake.events", type="topic", durable=True)


@pytest.fixture
def review(run_services):
    """A running review service (its start declares every event queue)."""
    return run_services(ReviewService)


@pytest.fixture
def publish(publish_event):
    """Publish one of intake's events."""
    return lambda event_type, payload: publish_event("intake", event_type, payload)


@pytest.fixture(scope="module", autouse=True)
def review_database(platform_env):
    """Supervision is a pass over every open task in review's database, and
    the suite's earlier modules leave hundreds of cases there: passes over
    them all made these tests slow and dependent on what ran before. Each
    module of review's tests gets a database of its own; the services it
    starts find it through the environment, as any service does."""
    from onewindow import migrate
    from services.registry import CENTRE
    admin, sandbox = platform_env["admin"], platform_env["sandbox"]
    name = f"{platform_env['run_id']}_review_{uuid.uuid4().hex[:6]}"
    migrate.create_database(admin, name)
    url = f"{admin.rsplit('/', 1)[0]}/{name}"
    migrate.migrate("review", CENTRE.member("review").migrations, url)
    sandbox.add_database(url)
    shared, os.environ["REVIEW_DATABASE_URL"] = os.environ["REVIEW_DATABASE_URL"], url
    try:
        yield url
    finally:
        os.environ["REVIEW_DATABASE_URL"] = shared
        sandbox.forget_database(url)
        migrate.drop_database(admin, name)


@pytest.fixture
def query(review_database):
    return lambda sql, params=None: rows_at(review_database, sql, params)


@pytest.fixture
def outbox(query):
    """Events review emitted about one case, oldest first."""
    def events(application_no, event_type=None):
        return [r["payload"] | {"type": r["event_type"]} for r in query(
            "SELECT event_type, payload FROM outbox WHERE payload->>'application_no' = %s "
            "AND (%s::text IS NULL OR event_type = %s) ORDER BY id",
            (application_no, event_type, event_type))]
    return events


def department(code, name, *, due_date, primary, backup, limit_days=10, lead=False, policy="escalate",
               fields=None, provisional=False):
    return {
        "code": code, "name": name, "lead": lead, "limit_days": limit_days, "due_date": due_date,
        "provisional": provisional, "timeout_policy": policy,
        "roster": {"primary": {"id": primary, "name": f"{primary} name", "phone": "13800138001"},
                   "backup": {"id": backup, "name": f"{backup} name", "phone": "13800138002"}},
        "supervisor_phone": "13900139000",
        "fields": fields if fields is not None else {},
    }


# the item's materials as intake's catalog names them
MATERIALS = [{"code": "M-FLOOR", "name": "平面布局图"}, {"code": "M-LEASE", "name": "租赁合同"},
             {"code": "M-HEALTH", "name": "从业人员健康证明"}, {"code": "M-FIRE", "name": "消防安全承诺书"}]


@pytest.fixture
def case(publish, rpc, wait):
    """Accept a case with the given departments (codes made unique per test)
    and wait until review has opened its tasks. Returns (application_no, {code: task})."""
    def accept(*departments, accepted_on="2026-11-02", due_date="2026-11-16", suffix=None, legal_limit_days=20,
               green_channel=None):
        suffix = suffix or uuid.uuid4().hex[:8]
        no = f"2026ZW{suffix}"
        publish("application_accepted", {
            "application_no": no, "item_code": "FOOD-LICENCE", "item_name": "食品经营许可",
            "catalog_version": 3, "kind": "committed", "channel": "window", "status": "accepted",
            "accepted_on": accepted_on, "due_date": due_date, "provisional": False, "visits": 1,
            "applicant": {"kind": "enterprise", "name": "杭州小笼包餐饮有限公司", "name_masked": "杭州*****公司",
                          "phone": "13700137000"},
            "departments": list(departments),
            "fees": [], "free_registration": True, "collect": "营业执照原件",
            "legal_limit_days": legal_limit_days, "committed_limit_days": 10, "materials": MATERIALS,
            "green_channel": green_channel,
        })
        if not departments:
            return no, {}
        view = wait(lambda: _application(rpc, no), message=f"review to open the tasks of {no}")
        return no, {t["department"]: t for t in view["tasks"]}
    return accept


def _application(rpc, no):
    from nameko.exceptions import RemoteError
    try:
        return rpc.review.application(no)
    except RemoteError as err:
        if err.exc_type == "NotFound":
            return None
        raise


@pytest.fixture
def uid():
    return uuid.uuid4().hex[:6].upper()


def refresh_gauges(runner):
    """Run the gauges' timer once now (it runs every REVIEW_GAUGE_SECONDS)."""
    from nameko.testing.services import entrypoint_hook
    with entrypoint_hook(list(runner.containers)[0], "refresh_gauges") as refresh:
        refresh()
