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

    def remember_contact(self, contact, concluded=False):
        """What intake says about the applicant; an accepted application's
        record (collect, fees) wins over what earlier notices carried.
        `concluded`: the application ended with this notice (see
        contact_concluded). The contact as it now stands."""
        return self.one(
            "INSERT INTO contacts (application_no, phone, name, name_masked, item_code, item_name, "
            "                      collect, fees_total_fen, accepted, concluded_at) "
            "VALUES (%(application_no)s, %(phone)s, %(name)s, %(name_masked)s, %(item_code)s, %(item_name)s, "
            "        %(collect)s, %(fees_total_fen)s, %(accepted)s, "
            "        CASE WHEN %(concluded)s THEN now() END) "
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
            "  concluded_at = COALESCE(contacts.concluded_at, EXCLUDED.concluded_at), "
            "  updated_at = now() "
            "RETURNING *",
            {"collect": "", "fees_total_fen": 0, "accepted": False, **contact, "concluded": concluded},
        )

    def contact(self, application_no):
        return self.one("SELECT * FROM contacts WHERE application_no = %s", (application_no,))

    def contact_concluded(self, application_no):
        """The application ended (completed, refused, withdrawn): retention
        counts from now. The contact, or None when there is none yet."""
        return self.one("UPDATE contacts SET concluded_at = COALESCE(concluded_at, now()) "
                        "WHERE application_no = %s RETURNING *", (application_no,))

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

    def hold(self, holds):
        """[(message, until, reason)]: not before `until`, saying why."""
        if holds:
            self.execute(
                "UPDATE messages SET not_before = h.until, next_attempt_at = h.until, held_reason = h.reason, "
                "  updated_at = now() "
                "FROM unnest(%s::uuid[], %s::timestamptz[], %s::text[]) AS h(id, until, reason) "
                "WHERE message_id = h.id",
                ([m["message_id"] for m, _, _ in holds], [until for _, until, _ in holds],
                 [reason for _, _, reason in holds]))

    def count_against_cap(self, asked, day, cap):
        """Count `asked` ({phone: messages}) against each phone's cap on
        `day`, in one statement: {phone: places given}, at most what is left
        of its cap. A phone whose count another sender created after this
        statement's snapshot is missing (its messages wait a pass)."""
        if not asked:
            return {}
        rows = self.all(
            "WITH asked AS (SELECT * FROM unnest(%(phones)s::text[], %(counts)s::int[]) AS a(phone, n)), "
            "fresh AS (INSERT INTO phone_day_counts (phone, day, sent) "
            "  SELECT phone, %(day)s, LEAST(n, %(cap)s) FROM asked "
            "  ON CONFLICT (phone, day) DO NOTHING RETURNING phone, sent AS given), "
            # the row locked first, so `before` is the value this update adds to
            "counted AS (UPDATE phone_day_counts c SET sent = GREATEST(c.sent, LEAST(%(cap)s, c.sent + a.n)) "
            "  FROM asked a, (SELECT phone, sent AS before FROM phone_day_counts "
            "                 WHERE day = %(day)s AND phone = ANY(%(phones)s) FOR UPDATE) b "
            "  WHERE c.day = %(day)s AND c.phone = a.phone AND b.phone = a.phone "
            "  RETURNING c.phone, c.sent - b.before AS given) "
            "SELECT phone, given FROM fresh UNION ALL SELECT phone, given FROM counted",
            {"phones": list(asked), "counts": list(asked.values()), "day": day, "cap": cap},
        )
        return {row["phone"]: row["given"] for row in rows}

    def mark_sending(self, sends, lease_seconds):
        """Claim [(message, cap_day or None)] for this sender: each a lease
        and a fresh token only this sender knows. The rows, in that order."""
        if not sends:
            return []
        rows = self.all(
            "UPDATE messages SET status = 'sending', attempts = attempts + 1, "
            "  provider_attempts = provider_attempts + 1, held_reason = NULL, lease_token = gen_random_uuid(), "
            "  lease_until = now() + make_interval(secs => %s), cap_day = COALESCE(s.day, cap_day), "
            "  updated_at = now() "
            "FROM unnest(%s::uuid[], %s::date[]) AS s(id, day) "
            f"WHERE message_id = s.id RETURNING {MESSAGE_COLUMNS}",
            (lease_seconds, [m["message_id"] for m, _ in sends], [day for _, day in sends]),
        )
        by_id = {row["message_id"]: row for row in rows}
        return [by_id[m["message_id"]] for m, _ in sends]

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

    def record_sent(self, attempts):
        """Attempts that went out (domain.Attempt), in one statement, the
        sender's hot path: each attempt kept, each message marked sent (also
        from `queued`: the reconciler may have released a slow send), and a
        receipt that came before it taken. Returns [(message, early receipt
        or None)]; a message settled elsewhere is left out (its attempt is
        kept)."""
        if not attempts:
            return []
        rows = self.all(
            "WITH went AS (SELECT * FROM unnest(%s::uuid[], %s::int[], %s::text[], %s::text[], %s::float8[]) "
            "  AS w(id, attempt, by_provider, pmid, took)), "
            "sent AS (UPDATE messages SET status = 'sent', provider = w.by_provider, provider_message_id = w.pmid, "
            "    sent_at = now(), lease_until = NULL, lease_token = NULL, last_error = NULL, updated_at = now() "
            f"  FROM went w WHERE message_id = w.id AND status IN ('sending', 'queued') RETURNING {MESSAGE_COLUMNS}), "
            "attempt AS (INSERT INTO message_attempts (message_id, attempt, provider, outcome, error, seconds) "
            "  SELECT id, attempt, by_provider, 'sent', NULL, took FROM went), "
            "early AS (DELETE FROM early_receipts e USING sent WHERE e.provider_message_id = sent.provider_message_id "
            "  RETURNING e.provider_message_id AS pmid, e.status, e.reason) "
            "SELECT sent.*, early.status AS early_status, early.reason AS early_reason "
            "FROM sent LEFT JOIN early ON early.pmid = sent.provider_message_id",
            ([a.message["message_id"] for a in attempts], [a.message["attempts"] for a in attempts],
             [a.provider for a in attempts], [a.provider_message_id for a in attempts],
             [a.seconds for a in attempts]),
        )
        recorded = []
        for row in rows:
            early_status, early_reason = row.pop("early_status"), row.pop("early_reason")
            recorded.append((row, {"status": early_status, "reason": early_reason} if early_status else None))
        return recorded

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

    def emit_statuses(self, messages):
        """message_statuses for intake's case records: one event for what
        one transaction settled (a sender's record holds several texts), not
        one each, for each event is a delivery, an ack and an outbox row.
        In the order given: a text sent and delivered at once comes twice."""
        if not messages:
            return None
        return self.emit("message_statuses", {"messages": [{
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
            "at": message["updated_at"],
        } for message in messages]})
