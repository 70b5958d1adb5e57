"""Which status of an SMS a case's record keeps, from notify's statuses in
the order they came: the newer, never a final one put back."""
from services.intake import domain


def notice(message_id, status, no="A1"):
    return {"message_id": message_id, "status": status, "application_no": no}


def test_the_newer_status_stands_unless_it_would_undo_a_final_one():
    assert domain.later_notice(notice("m", "sent"), notice("m", "delivered"))["status"] == "delivered"
    assert domain.later_notice(notice("m", "queued"), notice("m", "sent"))["status"] == "sent"
    assert domain.later_notice(notice("m", "delivered"), notice("m", "sent"))["status"] == "delivered"
    assert domain.later_notice(notice("m", "failed"), notice("m", "queued"))["status"] == "failed"
    # a receipt may correct a receipt: the newer final one stands
    assert domain.later_notice(notice("m", "delivered"), notice("m", "failed"))["status"] == "failed"


def test_one_notice_per_text_in_the_order_texts_came():
    latest = domain.latest_notices([notice("m2", "sent"), notice("m1", "sent"), notice("m2", "delivered"),
                                    notice("m1", "failed"), notice("m2", "sent")])
    assert [(n["message_id"], n["status"]) for n in latest] == [("m2", "delivered"), ("m1", "failed")]
    assert domain.latest_notices([]) == []


def test_the_cases_not_recorded_are_named_once_each():
    notices = [notice("m1", "sent", "B2"), notice("m2", "sent", "A1"), notice("m3", "sent", "B2"),
               notice("m4", "sent", "C3")]
    assert domain.unrecorded_cases(notices, {"m2", "m4"}) == ["B2"]
    assert domain.unrecorded_cases(notices, {"m1", "m2", "m3", "m4"}) == []
