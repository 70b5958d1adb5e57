"""Use cases against in-memory fakes of the store and the outbox (the
wiring is tested against the real broker and database elsewhere)."""
import copy
import datetime

import psycopg
import pytest

from onewindow.errors import Conflict, NotFound, ValidationFailed
from onewindow.validation import load
from services.fees import cases as fees
from services.fees import schemas as fees_schemas
from services.fees.store import FeesStore
from services.notify import cases as notify
from services.notify.settings import Settings as NotifySettings
from services.notify.store import NotifyStore
from tests.unit.fakes import FakeUnit

AT = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=datetime.timezone.utc)


# ---------------------------------------------------------------- fees: refunds

def paid_bill(bill_no="B1"):
    line = {"line_no": 1, "fee_code": "F1", "name": "工本费", "department": "SCJG", "amount_fen": 1000,
            "treasury_account": "T1", "legal_basis": "", "original_fen": 1000, "reduced_fen": 0}
    return {"bill_no": bill_no, "application_no": "ZW2026000001", "item_code": "ENT", "item_name": "企业设立",
            "total_fen": 1000, "status": "paid", "lines": [line], "refund": None,
            "applicant": {"name": "张三", "name_masked": "张*", "phone": "13800138000"}}


class FakeFeesStore(FeesStore):
    def __init__(self, *bills, taken_refs=()):
        super().__init__(FakeUnit("fees"))
        self.bills = {b["bill_no"]: b for b in bills}
        self.refunds = {}
        self.taken_refs = set(taken_refs)  # booked at this instant by a concurrent call

    def bill(self, bill_no, lock=False):
        return copy.deepcopy(self.bills.get(bill_no))

    def refund_by_ref(self, refund_ref):
        return self.refunds.get(refund_ref)

    def record_refund(self, bill, reason, refund_ref, at=None):
        if refund_ref in self.taken_refs:
            raise psycopg.errors.UniqueViolation("duplicate key value violates unique constraint")
        refund = {"refund_no": f"F{len(self.refunds) + 1}", "amount_fen": bill["total_fen"], "reason": reason,
                  "refund_ref": refund_ref, "refunded_at": AT}
        self.refunds[refund_ref] = {"bill_no": bill["bill_no"], **refund}
        self.bills[bill["bill_no"]] = dict(bill, status="refunded", refund=refund)
        return copy.deepcopy(self.bills[bill["bill_no"]])


def refund(bill_no, reason, refund_ref):
    """The arguments as the entrypoint loads them."""
    return load(fees_schemas.RefundSchema, {"bill_no": bill_no, "reason": reason, "refund_ref": refund_ref})


def test_a_refund_books_once_and_tells_the_others():
    store = FakeFeesStore(paid_bill())
    view = fees.refund(store, refund("B1", "申请人撤回", "r-1"))
    assert (view["status"], view["amount_fen"], view["refund_ref"]) == ("refunded", 1000, "r-1")
    [event] = store.unit.events("bill_refunded")
    assert (event["bill_no"], event["refund_no"], event["applicant"]["phone"]) == ("B1", "F1", "13800138000")


def test_the_same_refund_again_answers_the_first_and_emits_nothing_new():
    store = FakeFeesStore(paid_bill())
    first = fees.refund(store, refund("B1", "申请人撤回", "r-1"))
    assert fees.refund(store, refund("B1", "申请人撤回", "r-1")) == first
    assert len(store.unit.events()) == 1


def test_a_refund_ref_of_another_bill_is_a_conflict():
    store = FakeFeesStore(paid_bill("B1"), paid_bill("B2"))
    fees.refund(store, refund("B1", "撤回", "r-1"))
    with pytest.raises(Conflict, match="already used for bill B1"):
        fees.refund(store, refund("B2", "撤回", "r-1"))


def test_a_refund_ref_taken_at_the_same_instant_is_a_conflict_and_nothing_is_told():
    store = FakeFeesStore(paid_bill(), taken_refs={"r-1"})
    with pytest.raises(Conflict, match="r-1 was already used for another bill"):
        fees.refund(store, refund("B1", "撤回", "r-1"))
    assert store.unit.events() == []


def test_only_a_paid_bill_is_refunded():
    store = FakeFeesStore(dict(paid_bill(), status="unpaid"))
    with pytest.raises(Conflict, match="not paid"):
        fees.refund(store, refund("B1", "撤回", "r-1"))
    with pytest.raises(NotFound):
        fees.refund(store, refund("B9", "撤回", "r-2"))
    with pytest.raises(ValidationFailed):
        fees.refund(store, refund("", "", ""))


# ---------------------------------------------------------------- notify: what an applicant hears

class FakeNotifyStore(NotifyStore):
    def __init__(self, contacts=()):
        super().__init__(FakeUnit("notify"))
        self.contacts = {c["application_no"]: c for c in contacts}
        self.queued = {}

    def contact(self, application_no):
        return self.contacts.get(application_no)

    def enqueue(self, *, event_id, event_type, notice, rendered, urgent, provider, not_before, held_reason):
        key = (event_id, notice.template, notice.phone)
        if key in self.queued:
            return None
        self.queued[key] = {"template": notice.template, "phone": notice.phone, "text": rendered.text,
                            "segments": rendered.segments, "held_reason": held_reason}
        return self.queued[key]


def accepted_contact(**changes):
    return dict({"application_no": "ZW2026000001", "phone": "13800138000", "name": "张三", "name_masked": "张*",
                 "item_code": "ENT", "item_name": "企业设立登记", "collect": "", "total_fen": 1000,
                 "accepted": True}, **changes)


def settings():
    return NotifySettings.load({"OW_QUIET_HOURS": "", "SMS_PROVIDER": "local"})


def bill_paid_event():
    return {"event_id": "e-1", "application_no": "ZW2026000001", "bill_no": "B1", "total_fen": 1000,
            "receipt_no": "R1", "lines": [], "applicant": {}, "status": "paid"}


def test_a_paid_bill_is_texted_to_the_applicant_once():
    store = FakeNotifyStore([accepted_contact()])
    event = bill_paid_event()
    notify.notify_applicant(store, settings(), event, "bill_paid", event)
    notify.notify_applicant(store, settings(), event, "bill_paid", event)  # redelivered: the same notice
    [message] = store.queued.values()
    assert message["phone"] == "13800138000" and "10.00" in message["text"]


def test_before_the_acceptance_is_known_the_event_waits():
    from onewindow.errors import PrerequisiteMissing
    store = FakeNotifyStore([accepted_contact(accepted=False)])
    with pytest.raises(PrerequisiteMissing):
        notify.notify_applicant(store, settings(), bill_paid_event(), "bill_paid", bill_paid_event())
    assert store.queued == {}


def test_an_applicant_without_a_mobile_number_gets_nothing():
    store = FakeNotifyStore([accepted_contact(phone="010-12345678")])
    notify.notify_applicant(store, settings(), bill_paid_event(), "bill_paid", bill_paid_event())
    assert store.queued == {}
