"""notify data access: one function per question or change."""
import uuid

from psycopg.types.json import Jsonb

from onewindow import personal
from onewindow.db import Store
from onewindow.retention import delete_in_batches

from . import domain

MESSAGE_COLUMNS = (
    "message_id, event_id, event_type, template, template_code, recipient_role, application_no, phone, "
    "params, text, segments, urgent, status, attempts, provider, provider_attempts, provider_message_id, "
    "not_before, held_reason, next_attempt_at, lease_until, lease_token, maybe_sent_by, cap_day, last_error, "
    "failure_reason, "
    "created_at, updated_at, sent_at, delivered_at, failed_at"
)


MASKED_PHONE = personal.mask_phone_sql("phone")


class NotifyStore(Store):
    # ------------------------------------------------------------ contacts

    def remember_contact(self, contact):
        """What intake says about the applicant; an accepted application's
        record (collect, fees) wins over what earlier notices carried."""
        self.execute(
            "INSERT INTO contacts (application_no, phone, name, name_masked, item_code, item_name, "
            "                      collect, fees_total_fen, accepted) "
            "VALUES (%(application_no)s, %(phone)s, %(name)s, %(name_masked)s, %(item_code)s, %(item_name)s, "
            "        %(collect)s, %(fees_total_fen)s, %(accepted)s) "
            "ON CONFLICT (application_no) DO UPDATE SET "
            "  phone = COALESCE(NULLIF(EXCLUDED.phone, ''), contacts.phone), "
            "  name = COALESCE(NULLIF(EXCLUDED.name, ''), contacts.name), "
            "  name_masked = COALESCE(NULLIF(EXCLUDED.name_masked, ''), contacts.name_masked), "
            "  item_code = COALESCE(NULLIF(EXCLUDED.item_code, ''), contacts.item_code), "
            "  item_name = COALESCE(NULLIF(EXCLUDED.item_name, ''), contacts.item_name), "
            "  collect = CASE WHEN EXCLUDED.accepted THEN EXCLUDED.collect ELSE contacts.collect END, "
            "  fees_total_fen = CASE WHEN EXCLUDED.accepted THEN EXCLUDED.fees_total_fen "
            "                        ELSE contacts.fees_total_fen END, "
            "  accepted = contacts.accepted OR EXCLUDED.accepted, "
            "  updated_at = now()",
            {"collect": "", "fees_total_fen": 0, "accepted": False, **contact},
        )

    def contact(self, application_no):
        return self.one("SELECT * FROM contacts WHERE application_no = %s", (application_no,))

    def contact_concluded(self, application_no):
        """The application ended (completed, refused, withdrawn): retention
        counts from now."""
        self.execute("UPDATE contacts SET concluded_at = COALESCE(concluded_at, now()) WHERE application_no = %s",
                     (application_no,))

    # ------------------------------------------------------------ messages

    def enqueue(self, *, event_id, event_type, notice, rendered, urgent, provider, not_before, held_reason):
        """Queue one text; None when this event already queued it (redelivery)."""
        return self.one(
            "INSERT INTO messages (message_id, event_id, event_type, template, template_code, recipient_role, "
            "  application_no, phone, params, text, segments, urgent, status, provider, not_before, held_reason, "
            "  next_attempt_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'queued', %s, %s, %s, "
            "        COALESCE(%s::timestamptz, now())) "
            f"ON CONFLICT (event_id, template, recipient_role) DO NOTHING RETURNING {MESSAGE_COLUMNS}",
            (uuid.uuid4(), event_id, event_type, rendered.template, rendered.code, notice.recipient_role,
             notice.application_no, notice.phone, Jsonb(rendered.params), rendered.text, rendered.segments,
             urgent, provider, not_before, held_reason, not_before),
        )

    def messages(self, application_no=None, phone=None, limit=500):
        return self.all(
            f"SELECT {MESSAGE_COLUMNS} FROM messages "
            "WHERE (%(app)s::text IS NULL OR application_no = %(app)s) "
            "  AND (%(phone)s::text IS NULL OR phone = %(phone)s) "
            "ORDER BY created_at, template LIMIT %(limit)s",
            {"app": application_no, "phone": phone, "limit": limit},
        )

    def message_by_provider_id(self, provider_message_id):
        return self.one(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE provider_message_id = %s FOR UPDATE",
                        (provider_message_id,))

    def keep_early_receipt(self, provider_message_id, status, reason=None):
        """A receipt for a send not recorded yet: the first one stands."""
        self.execute(
            "INSERT INTO early_receipts (provider_message_id, status, reason) VALUES (%s, %s, %s) "
            "ON CONFLICT (provider_message_id) DO NOTHING",
            (provider_message_id, status, reason),
        )


    def apply_receipt(self, message_id, status, reason=None):
        return self.one(
            "UPDATE messages SET status = %(status)s, updated_at = now(), "
            "  delivered_at = CASE WHEN %(status)s = 'delivered' THEN now() ELSE delivered_at END, "
            "  failed_at = CASE WHEN %(status)s = 'failed' THEN now() ELSE failed_at END, "
            "  failure_reason = CASE WHEN %(status)s = 'failed' THEN %(reason)s ELSE failure_reason END "
            f"WHERE message_id = %(id)s RETURNING {MESSAGE_COLUMNS}",
            {"status": status, "reason": reason, "id": message_id},
        )

    # ---------------------------------------------------------- the sender

    def release_stuck(self):
        """The reconciler: messages left in `sending` past their lease (a
        sender died mid-send) go back to the queue. The provider dedupes on
        the message id, so sending again cannot reach the phone twice."""
        return self.all(
            "UPDATE messages SET status = 'queued', lease_until = NULL, lease_token = NULL, next_attempt_at = now(), "
            "  last_error = 'reconciled: stuck in sending', updated_at = now() "
            "WHERE status = 'sending' AND lease_until < now() RETURNING message_id, template"
        )

    def claim_due(self, limit):
        """Due queued messages, locked for this sender (replicas skip them)."""
        return self.all(
            f"SELECT {MESSAGE_COLUMNS} FROM messages "
            "WHERE status = 'queued' AND next_attempt_at <= now() "
            "  AND (not_before IS NULL OR not_before <= now()) "
            "ORDER BY urgent DESC, next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED",
            (limit,),
        )

    def hold(self, message_id, until, reason):
        self.execute(
            "UPDATE messages SET not_before = %s, next_attempt_at = %s, held_reason = %s, updated_at = now() "
            "WHERE message_id = %s",
            (until, until, reason, message_id),
        )

    def count_against_cap(self, phone, day, cap):
        """Count one message for `phone` on `day`; False when the cap is reached."""
        row = self.one(
            "INSERT INTO phone_day_counts (phone, day, sent) VALUES (%(phone)s, %(day)s, 1) "
            "ON CONFLICT (phone, day) DO UPDATE SET sent = phone_day_counts.sent + 1 "
            "WHERE phone_day_counts.sent < %(cap)s RETURNING sent",
            {"phone": phone, "day": day, "cap": cap},
        )
        return row is not None

    def mark_sending(self, message_id, lease_seconds, cap_day):
        """Claim for this sender: a lease and a fresh token that only this
        sender knows."""
        return self.one(
            "UPDATE messages SET status = 'sending', attempts = attempts + 1, "
            "  provider_attempts = provider_attempts + 1, held_reason = NULL, lease_token = gen_random_uuid(), "
            "  lease_until = now() + make_interval(secs => %s), cap_day = COALESCE(%s::date, cap_day), "
            "  updated_at = now() "
            f"WHERE message_id = %s RETURNING {MESSAGE_COLUMNS}",
            (lease_seconds, cap_day, message_id),
        )

    def renew_lease(self, message_id, lease_token, lease_seconds):
        """Just before a send: the lease runs from now again. None when the
        message is no longer this sender's (released and claimed elsewhere,
        or already settled): it must not be sent from here."""
        return self.one(
            "UPDATE messages SET lease_until = now() + make_interval(secs => %s), updated_at = now() "
            f"WHERE message_id = %s AND status = 'sending' AND lease_token = %s RETURNING {MESSAGE_COLUMNS}",
            (lease_seconds, message_id, lease_token),
        )

    def record_attempt(self, message_id, attempt, provider, outcome, error, seconds):
        self.execute(
            "INSERT INTO message_attempts (message_id, attempt, provider, outcome, error, seconds) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (message_id, attempt, provider, outcome, error, seconds),
        )

    def record_sent(self, message_id, attempt, provider, provider_message_id, seconds):
        """The attempt that went out, the message marked sent (also from
        `queued`: the reconciler may have released a slow send) and a
        receipt that came before it taken, in one statement: the sender's
        hot path. Returns (message, early receipt or None); (None, None)
        when the message was settled elsewhere (the attempt is kept)."""
        row = self.one(
            "WITH sent AS (UPDATE messages SET status = 'sent', provider = %(provider)s, "
            "    provider_message_id = %(pmid)s, sent_at = now(), lease_until = NULL, lease_token = NULL, "
            "    last_error = NULL, updated_at = now() "
            f"  WHERE message_id = %(id)s AND status IN ('sending', 'queued') RETURNING {MESSAGE_COLUMNS}), "
            "attempt AS (INSERT INTO message_attempts (message_id, attempt, provider, outcome, error, seconds) "
            "  VALUES (%(id)s, %(attempt)s, %(provider)s, 'sent', NULL, %(seconds)s)), "
            "early AS (DELETE FROM early_receipts WHERE provider_message_id = %(pmid)s "
            "  AND EXISTS (SELECT 1 FROM sent) RETURNING status, reason) "
            "SELECT sent.*, early.status AS early_status, early.reason AS early_reason "
            "FROM sent LEFT JOIN early ON true",
            {"id": message_id, "attempt": attempt, "provider": provider, "pmid": provider_message_id,
             "seconds": seconds},
        )
        if row is None:
            return None, None
        early_status, early_reason = row.pop("early_status"), row.pop("early_reason")
        return row, ({"status": early_status, "reason": early_reason} if early_status else None)

    def mark_retry(self, message_id, lease_token, provider, provider_attempts, delay, error, maybe_sent_by=None):
        return self.one(
            "UPDATE messages SET status = 'queued', provider = %s, provider_attempts = %s, "
            "  next_attempt_at = now() + make_interval(secs => %s), lease_until = NULL, lease_token = NULL, "
            "  last_error = %s, maybe_sent_by = COALESCE(%s, maybe_sent_by), updated_at = now() "
            f"WHERE message_id = %s AND status = 'sending' AND lease_token = %s RETURNING {MESSAGE_COLUMNS}",
            (provider, provider_attempts, delay, error, maybe_sent_by, message_id, lease_token),
        )

    def mark_failed(self, message_id, reason):
        return self.one(
            "UPDATE messages SET status = 'failed', failure_reason = %s, last_error = %s, failed_at = now(), "
            "  lease_until = NULL, lease_token = NULL, updated_at = now() "
            f"WHERE message_id = %s AND status IN ('sending', 'queued') RETURNING {MESSAGE_COLUMNS}",
            (reason, reason, message_id),
        )

    def backlog(self):
        return self.one("SELECT count(*) AS n FROM messages WHERE status IN ('queued', 'sending')")["n"]

    def oldest_waiting(self):
        """{status: seconds} for queued and sending: how long the oldest message
        has been free to go (not held for quiet hours or the daily cap) without
        going, or has been in the provider's hands without an answer."""
        rows = self.all(
            "SELECT status, COALESCE(EXTRACT(EPOCH FROM max(now() - CASE WHEN status = 'sending' THEN updated_at "
            "  ELSE GREATEST(created_at, COALESCE(not_before, created_at)) END)), 0) AS seconds "
            "FROM messages WHERE status IN ('queued', 'sending') AND (not_before IS NULL OR not_before <= now()) "
            "GROUP BY status")
        waiting = {"queued": 0.0, "sending": 0.0}
        waiting.update({row["status"]: float(row["seconds"]) for row in rows})
        return waiting

    # ---------------------------------------------------------- retention

    def purge(self, older_than):
        """Retention (onewindow.retention): a settled message older than the
        cut-off keeps its template, status and times for a complaint's audit,
        but not the phone number, the text or its variables; the contact of
        an application concluded before the cut-off keeps the masked name
        and phone only (a late event then texts no one); receipts that never
        found their send and past days' cap counts go."""
        masked = self.execute(
            f"UPDATE messages SET phone = {MASKED_PHONE}, text = %s, params = '{{}}' "
            "WHERE status IN ('sent', 'delivered', 'failed') AND updated_at < %s AND text <> %s",
            (domain.TEXT_REMOVED, older_than, domain.TEXT_REMOVED),
        ).rowcount
        contacts = self.execute(
            f"UPDATE contacts SET phone = {MASKED_PHONE}, name = '' "
            "WHERE concluded_at < %s AND (name <> '' OR (phone <> '' AND phone !~ '[*]'))", (older_than,)).rowcount
        return {
            "messages_masked": masked,
            "contacts_masked": contacts,
            "early_receipts": delete_in_batches(self.unit, "early_receipts", "received_at < %s", (older_than,)),
            "phone_day_counts": delete_in_batches(self.unit, "phone_day_counts", "day < current_date - 1"),
        }

    # ------------------------------------------------------------- events

    def emit_status(self, message, at=None):
        """message_status for intake's case record."""
        return self.emit("message_status", {
            "application_no": message["application_no"],
            "message_id": message["message_id"],
            "source_event_id": message["event_id"],
            "template": message["template"],
            "recipient_role": message["recipient_role"],
            "status": message["status"],
            "segments": message["segments"],
            "attempts": message["attempts"],
            "provider": message["provider"],
            "phone_masked": personal.mask_phone(message["phone"]),
            "text": message["text"],
            "failure_reason": message["failure_reason"],
            "at": at or message["updated_at"],
        })
