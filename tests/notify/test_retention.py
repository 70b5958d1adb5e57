"""notify's retention: a settled message keeps its audit trail but not the
phone, the text or its variables; stale receipts and cap counts go."""
import datetime

from onewindow import retention
from services.notify import domain
from services.notify.store import NotifyStore

from .test_exactly_once import queue_messages


def test_settled_messages_older_than_retention_lose_their_personal_data(own_notify_db):
    _, units = own_notify_db
    old, settled_now, queued_old = queue_messages(units, 3)
    long_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=30)
    with units() as unit:
        unit.execute("UPDATE messages SET phone = '13912345678', params = '{\"name\": \"张三丰\"}'")
        unit.execute("UPDATE messages SET status = 'delivered', updated_at = %s WHERE message_id = %s", (long_ago, old))
        unit.execute("UPDATE messages SET status = 'sent' WHERE message_id = %s", (settled_now,))
        unit.execute("UPDATE messages SET updated_at = %s WHERE message_id = %s", (long_ago, queued_old))
        unit.execute("INSERT INTO early_receipts (provider_message_id, status, received_at) VALUES "
                     "('stale', 'delivered', %s), ('fresh', 'delivered', now())", (long_ago,))
        unit.execute("INSERT INTO phone_day_counts (phone, day, sent) VALUES ('13912345678', current_date - 3, 1), "
                     "('13912345678', current_date, 1)")
    with units() as unit:
        done = retention.purge(unit, NotifyStore(unit))
    assert done["messages_masked"] == 1 and done["early_receipts"] == 1 and done["phone_day_counts"] == 1
    with units() as unit:
        rows = {str(r["message_id"]): r for r in unit.all("SELECT message_id, phone, text, params, status FROM messages")}
        assert [r["provider_message_id"] for r in unit.all("SELECT provider_message_id FROM early_receipts")] == ["fresh"]
    assert rows[old]["phone"] == "139****5678" and rows[old]["text"] == domain.TEXT_REMOVED
    assert rows[old]["params"] == {} and rows[old]["status"] == "delivered"
    for kept in (settled_now, queued_old):  # recent, or still to be sent: untouched
        assert rows[kept]["phone"] == "13912345678" and rows[kept]["params"] == {"name": "张三丰"}


def test_contacts_of_applications_concluded_before_retention_keep_only_masked_data(own_notify_db):
    _, units = own_notify_db
    long_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=30)
    with units() as unit:
        store = NotifyStore(unit)
        for no in ("OLD-CONCLUDED", "NEW-CONCLUDED", "OLD-OPEN"):
            store.remember_contact({"application_no": no, "phone": "13912345678", "name": "张三丰",
                                    "name_masked": "张*丰", "item_code": "I", "item_name": "事项"})
        store.contact_concluded("NEW-CONCLUDED")
        store.contact_concluded("OLD-CONCLUDED")
        unit.execute("UPDATE contacts SET concluded_at = %s, updated_at = %s WHERE application_no = 'OLD-CONCLUDED'",
                     (long_ago, long_ago))
        unit.execute("UPDATE contacts SET updated_at = %s WHERE application_no = 'OLD-OPEN'", (long_ago,))
    with units() as unit:
        assert retention.purge(unit, NotifyStore(unit))["contacts_masked"] == 1
    with units() as unit:
        assert retention.purge(unit, NotifyStore(unit))["contacts_masked"] == 0  # once
        rows = {r["application_no"]: r for r in unit.all("SELECT * FROM contacts")}
    old = rows["OLD-CONCLUDED"]
    assert (old["phone"], old["name"], old["name_masked"]) == ("139****5678", "", "张*丰")
    # under review for weeks, or concluded lately: still needed to text the applicant
    for kept in ("NEW-CONCLUDED", "OLD-OPEN"):
        assert (rows[kept]["phone"], rows[kept]["name"]) == ("13912345678", "张三丰")


def test_the_events_that_end_an_application_mark_its_contact_concluded_with_their_text(own_notify_db):
    """Retention counts from the end of the application: a completion,
    refusal or withdrawal marks the contact in the write that learns it,
    a completion without the applicant in the update that finds it."""
    import pytest

    from onewindow.errors import PrerequisiteMissing
    from onewindow.validation import load
    from services.notify import cases, schemas
    from services.notify.settings import Settings

    from .conftest import accepted, event, new_application_no, new_phone

    _, units = own_notify_db
    settings = Settings.load({"OW_QUIET_HOURS": "", "OW_PORTAL_URL": "https://portal.example/",
                              "OW_PORTAL_SECRET": "a-secret"})

    def handle(handler, schema, payload):
        with units() as unit:
            handler(NotifyStore(unit), settings, payload, load(schema, payload))

    def contact(no):
        with units() as unit:
            return unit.one("SELECT phone, accepted, concluded_at FROM contacts WHERE application_no = %s", (no,))

    def texts(no):
        with units() as unit:
            return [r["template"] for r in unit.all("SELECT template FROM messages WHERE application_no = %s "
                                                     "ORDER BY created_at", (no,))]

    def completed(no, phone=None):
        return event(application_no=no, item_code="FOOD-1", item_name="食品经营许可", outcome="approved",
                     status="completed", concluded_on="2026-03-11",
                     **({"applicant": {"name": "张三丰", "name_masked": "张**", "phone": phone}} if phone else {}))

    with_applicant, without, phone = new_application_no(), new_application_no(), new_phone()
    for no in (with_applicant, without):
        handle(cases.application_accepted, schemas.ApplicationAccepted, accepted(no, phone))
        assert contact(no)["concluded_at"] is None and contact(no)["accepted"]
    handle(cases.application_completed, schemas.ApplicationCompleted, completed(with_applicant, phone))
    handle(cases.application_completed, schemas.ApplicationCompleted, completed(without))
    for no in (with_applicant, without):
        assert contact(no)["concluded_at"] is not None and contact(no)["phone"] == phone
        assert texts(no) == ["application_accepted_online", "rating_invitation"]
    first = contact(with_applicant)["concluded_at"]
    handle(cases.application_completed, schemas.ApplicationCompleted, completed(with_applicant, phone))
    assert contact(with_applicant)["concluded_at"] == first  # the first end stands

    unknown = new_application_no()
    with pytest.raises(PrerequisiteMissing):
        handle(cases.application_completed, schemas.ApplicationCompleted, completed(unknown))
    assert contact(unknown) is None and texts(unknown) == []

    refused = new_application_no()
    handle(cases.application_refused, schemas.ApplicationRefused, event(
        application_no=refused, refusal_no="ZWBYSL2026000009", item_name="x", reasons=["r"], legal_basis="b",
        applicant={"name": "张三丰", "phone": phone}))
    assert contact(refused)["concluded_at"] is not None and not contact(refused)["accepted"]
    assert texts(refused) == ["application_refused"]
