"""Fixtures for the fees integration tests: a running FeesService, events
published the way intake and review publish_event them, and SQL on fees' database."""
import uuid

import pytest

from scripts.sample import bill_or_none

from services.fees.service import FeesService

TREASURY = {"market": "TR-MARKET-001", "fire": "TR-FIRE-002", "health": "TR-HEALTH-003"}


def fee(code, department, amount_fen, name=None):
    return {"fee_code": code, "name": name or f"fee {code}", "department": department,
            "amount_fen": amount_fen, "treasury_account": TREASURY[department]}


def accepted_event(fees, kind="committed", free_registration=False, departments=("market", "fire"),
                   application_no=None):
    no = application_no or f"T{uuid.uuid4().hex[:12].upper()}"
    return {
        "event_id": str(uuid.uuid4()), "occurred_at": "2026-03-02T09:00:00+08:00",
        "application_no": no, "item_code": "ITEM-1", "item_name": "Food business licence",
        "catalog_version": 3, "kind": kind, "channel": "window", "status": "accepted",
        "accepted_on": "2026-03-02", "due_date": "2026-03-20", "provisional": False, "visits": 1,
        "applicant": {"kind": "person", "name": "Zhang San", "name_masked": "Zhang *", "phone": "13800138000"},
        "departments": [] if kind == "instant" else [
            {"code": code, "name": code, "lead": i == 0, "limit_days": 10, "due_date": "2026-03-16",
             "provisional": False, "timeout_policy": "escalate", "fields": {}}
            for i, code in enumerate(departments)],
        "fees": list(fees), "free_registration": free_registration, "collect": "ID card",
    }


def completed_event(application_no, outcome="approved"):
    return {"event_id": str(uuid.uuid4()), "occurred_at": "2026-03-10T15:00:00+08:00",
            "application_no": application_no, "outcome": outcome, "rejections": [],
            "completed_at": "2026-03-10T15:00:00+08:00"}


@pytest.fixture
def fees_sql(service_sql):
    return lambda sql, params=None: service_sql("fees", sql, params)


@pytest.fixture
def fees(run_services):
    return run_services(FeesService)


@pytest.fixture
def billed(fees, publish_event, rpc, wait):
    """billed(fees=..., approve=True) -> the bill of a fresh committed case."""

    def make(lines=None, **kwargs):
        lines = lines if lines is not None else [fee("F-MKT", "market", 5000), fee("F-FIRE", "fire", 12000)]
        event = publish_event("intake", "application_accepted", accepted_event(lines, **kwargs))
        if kwargs.get("kind") != "instant":
            publish_event("review", "review_completed", completed_event(event["application_no"]))
        return wait(lambda: bill_or_none(rpc, event["application_no"]), message="the bill")

    return make


@pytest.fixture
def store_on():
    """with store_on(url) as store: FeesStore on one transaction, committed at
    the end (rolled back if the block raises or calls store.unit.rollback())."""
    import contextlib

    from onewindow.db import UnitOfWork, connect_pool
    from services.fees.store import FeesStore

    pools = []

    @contextlib.contextmanager
    def open_store(url):
        pool = connect_pool(url, min_size=1, max_size=1)
        pools.append(pool)
        with UnitOfWork(pool, "fees") as unit:
            yield FeesStore(unit)

    yield open_store
    for pool in pools:
        pool.close()


def case_row(lines, application_no=None, lead="market", kind="committed"):
    """A case as record_case takes it (what the event schema loads)."""
    return {"application_no": application_no or f"T{uuid.uuid4().hex[:12].upper()}", "item_code": "ITEM-1",
            "item_name": "Food business licence", "catalog_version": "3", "kind": kind,
            "free_registration": False, "fees": list(lines),
            "departments": [{"code": lead, "lead": True}] if lead else [],
            "applicant": {"name": "Zhang San", "name_masked": "Zhang *", "phone": "13800138000"},
            "accepted_on": None}
