"""hall data access: one method per question or change, in the domain's words."""
from psycopg.types.json import Jsonb

from onewindow.db import Store

from . import domain

# The order in which a window calls: appointments whose slot has begun, then
# the green channel (绿色通道), then the queue by the time the ticket was
# taken (a transferred ticket keeps its time, so it is not sent to the back).
def call_order(t="t"):
    return (f"(CASE WHEN {t}.due_at <= %(now)s THEN 0 WHEN {t}.green_channel IS NOT NULL THEN 1 ELSE 2 END), "
            f"{t}.taken_at, {t}.ticket_no")


CALL_ORDER = call_order()
WAITING = "t.service_day = %(today)s AND t.called_at IS NULL AND t.outcome IS NULL"


class HallStore(Store):
    # ------------------------------------------------------------ numbers

    def next_ticket_seq(self, day, queue_code):
        row = self.one(
            "INSERT INTO ticket_counters (service_day, queue_code, last_value) VALUES (%s, %s, 1) "
            "ON CONFLICT (service_day, queue_code) DO UPDATE SET last_value = ticket_counters.last_value + 1 "
            "RETURNING last_value", (day, queue_code))
        return row["last_value"]

    def next_document(self, kind, prefix, year):
        row = self.one(
            "INSERT INTO document_counters (kind, year, last_value) VALUES (%s, %s, 1) "
            "ON CONFLICT (kind, year) DO UPDATE SET last_value = document_counters.last_value + 1 "
            "RETURNING last_value", (kind, year))
        return domain.document_number(prefix, year, row["last_value"])

    # ------------------------------------------------------------ tickets

    def add_ticket(self, ticket):
        return self.one(
            "INSERT INTO tickets (service_day, ticket_no, queue_code, seq, channel, phone, appointment_no, due_at, "
            "green_channel, taken_at, checked_in_at) VALUES (%(service_day)s, %(ticket_no)s, %(queue_code)s, "
            "%(seq)s, %(channel)s, %(phone)s, %(appointment_no)s, %(due_at)s, %(green_channel)s, %(taken_at)s, "
            "%(checked_in_at)s) RETURNING *", ticket)

    def ticket(self, day, ticket_no, lock=False):
        return self.one("SELECT * FROM tickets WHERE service_day = %s AND ticket_no = %s"
                        + (" FOR UPDATE" if lock else ""), (day, ticket_no))

    def ahead_of(self, ticket, now):
        """Tickets of the same queue a window would call before this one."""
        row = self.one(
            f"SELECT count(*) AS n FROM tickets t, tickets me WHERE me.service_day = %(today)s "
            f"AND me.ticket_no = %(ticket_no)s AND t.queue_code = me.queue_code AND {WAITING} "
            f"AND t.ticket_no <> me.ticket_no "
            f"AND ({CALL_ORDER}) < ({call_order('me')})",
            {"today": ticket["service_day"], "ticket_no": ticket["ticket_no"], "now": now})
        return row["n"]

    def call_next(self, day, queues, window_code, now):
        """Take the window's next ticket and mark it called, in one statement.
        Tickets another window is taking at this instant are skipped (SKIP
        LOCKED): two windows never get the same one."""
        return self.one(
            f"WITH next AS (SELECT t.service_day, t.ticket_no FROM tickets t WHERE {WAITING} "
            f"AND t.queue_code = ANY(%(queues)s) ORDER BY {CALL_ORDER} LIMIT 1 FOR UPDATE SKIP LOCKED) "
            "UPDATE tickets SET called_at = %(now)s, last_called_at = %(now)s, "
            "first_called_at = coalesce(first_called_at, %(now)s), calls = calls + 1, window_code = %(window)s "
            "FROM next WHERE tickets.service_day = next.service_day AND tickets.ticket_no = next.ticket_no "
            "RETURNING tickets.*",
            {"today": day, "queues": list(queues), "now": now, "window": window_code})

    def lock_window(self, window_code):
        """Held until commit: one window's calls happen one after another."""
        self.execute("SELECT pg_advisory_xact_lock(hashtext('hall-window:' || %s))", (window_code,))

    def at_window(self, day, window_code):
        """The tickets a window has called and not finished (expired ones
        aside), oldest first."""
        rows = self.all("SELECT * FROM tickets WHERE service_day = %s AND window_code = %s AND outcome IS NULL "
                        "AND called_at IS NOT NULL ORDER BY called_at", (day, window_code))
        return [r for r in rows if domain.ticket_status(r, day) == "called"]

    def recall(self, ticket, now):
        return self.one("UPDATE tickets SET calls = calls + 1, last_called_at = %s WHERE service_day = %s "
                        "AND ticket_no = %s RETURNING *", (now, ticket["service_day"], ticket["ticket_no"]))

    def check_in(self, ticket, now):
        return self.one("UPDATE tickets SET checked_in_at = coalesce(checked_in_at, %s) WHERE service_day = %s "
                        "AND ticket_no = %s RETURNING *", (now, ticket["service_day"], ticket["ticket_no"]))

    def finish(self, ticket, outcome, application_no, now):
        return self.one("UPDATE tickets SET outcome = %s, application_no = %s, finished_at = %s "
                        "WHERE service_day = %s AND ticket_no = %s RETURNING *",
                        (outcome, application_no, now, ticket["service_day"], ticket["ticket_no"]))

    def transfer(self, ticket, queue_code):
        return self.one("UPDATE tickets SET queue_code = %s, transferred_from = queue_code, called_at = NULL, "
                        "window_code = NULL, near_told_at = NULL WHERE service_day = %s AND ticket_no = %s "
                        "RETURNING *", (queue_code, ticket["service_day"], ticket["ticket_no"]))

    def near_turn(self, day, queues, now):
        """Remote tickets with a phone that now have NEAR_TURN or fewer ahead
        and were not told yet; marked told. A ticket another call is holding
        is skipped and told at the next call."""
        if not self.one("SELECT 1 FROM tickets t WHERE " + WAITING + " AND t.queue_code = ANY(%(queues)s) "
                        "AND t.channel = 'remote' AND t.phone IS NOT NULL AND t.near_told_at IS NULL LIMIT 1",
                        {"today": day, "queues": list(queues)}):
            return []  # the usual morning: nobody to tell, no ranking of the whole queue
        return self.all(
            "WITH ranked AS (SELECT t.service_day, t.ticket_no, t.channel, t.phone, t.near_told_at, "
            f"row_number() OVER (PARTITION BY t.queue_code ORDER BY {CALL_ORDER}) - 1 AS ahead "
            f"FROM tickets t WHERE {WAITING} AND t.queue_code = ANY(%(queues)s)), "
            "due AS (SELECT t.service_day, t.ticket_no FROM tickets t JOIN ranked r USING (service_day, ticket_no) "
            "WHERE r.channel = 'remote' AND r.phone IS NOT NULL AND r.near_told_at IS NULL AND r.ahead <= %(near)s "
            "FOR UPDATE OF t SKIP LOCKED) "
            "UPDATE tickets SET near_told_at = %(now)s FROM due, ranked WHERE tickets.service_day = due.service_day "
            "AND tickets.ticket_no = due.ticket_no AND ranked.ticket_no = due.ticket_no "
            "AND tickets.near_told_at IS NULL RETURNING tickets.*, ranked.ahead",
            {"today": day, "queues": list(queues), "now": now, "near": domain.NEAR_TURN})

    def mark_near_told(self, ticket, now):
        self.execute("UPDATE tickets SET near_told_at = %s WHERE service_day = %s AND ticket_no = %s",
                     (now, ticket["service_day"], ticket["ticket_no"]))

    def history(self, ticket, action, window_code=None, actor="", detail=None, at=None):
        self.execute("INSERT INTO ticket_history (service_day, ticket_no, action, window_code, actor, detail, at) "
                     "VALUES (%s, %s, %s, %s, %s, %s, coalesce(%s, now()))",
                     (ticket["service_day"], ticket["ticket_no"], action, window_code, actor or "",
                      Jsonb(detail or {}), at))

    def ticket_history(self, ticket):
        return self.all("SELECT action, window_code, actor, detail, at FROM ticket_history "
                        "WHERE service_day = %s AND ticket_no = %s ORDER BY id",
                        (ticket["service_day"], ticket["ticket_no"]))

    def service_seconds(self, queue_code, sample):
        """The most recent service times of a queue (call to finish), newest first."""
        rows = self.all("SELECT extract(epoch FROM finished_at - called_at)::float AS s FROM tickets "
                        "WHERE queue_code = %s AND outcome = 'served' ORDER BY finished_at DESC LIMIT %s",
                        (queue_code, sample))
        return [r["s"] for r in rows]

    def queue_figures(self, day):
        """Per queue today: waiting, the oldest waiting ticket's taken_at, and
        the average wait of the tickets called so far."""
        rows = self.all(
            "SELECT queue_code, count(*) FILTER (WHERE called_at IS NULL AND outcome IS NULL) AS waiting, "
            "min(taken_at) FILTER (WHERE called_at IS NULL AND outcome IS NULL) AS oldest_taken_at, "
            "avg(extract(epoch FROM first_called_at - taken_at)) FILTER (WHERE first_called_at IS NOT NULL) "
            "AS average_wait_seconds FROM tickets WHERE service_day = %s GROUP BY queue_code", (day,))
        return {r["queue_code"]: r for r in rows}

    def serving(self, day):
        """Each window's current or last called ticket today."""
        return self.all(
            "SELECT DISTINCT ON (window_code) * FROM tickets WHERE service_day = %s AND window_code IS NOT NULL "
            "ORDER BY window_code, last_called_at DESC", (day,))

    # ------------------------------------------------------------ appointments

    def lock_slot(self, item_code, day, slot):
        self.execute("INSERT INTO appointment_slots (item_code, day, slot) VALUES (%s, %s, %s) "
                     "ON CONFLICT DO NOTHING", (item_code, day, slot))
        self.one("SELECT 1 FROM appointment_slots WHERE item_code = %s AND day = %s AND slot = %s FOR UPDATE",
                 (item_code, day, slot))

    def booked_per_slot(self, item_code, day):
        rows = self.all("SELECT slot, count(*) AS n FROM appointments WHERE item_code = %s AND day = %s "
                        "AND cancelled_at IS NULL GROUP BY slot", (item_code, day))
        return {r["slot"]: r["n"] for r in rows}

    def booking_of_phone(self, item_code, day, phone):
        return self.one("SELECT * FROM appointments WHERE item_code = %s AND day = %s AND phone = %s "
                        "AND cancelled_at IS NULL", (item_code, day, phone))

    def add_appointment(self, appointment):
        return self.one(
            "INSERT INTO appointments (appointment_no, item_code, queue_code, day, slot, starts_at, ends_at, phone, "
            "booked_at) VALUES (%(appointment_no)s, %(item_code)s, %(queue_code)s, %(day)s, %(slot)s, %(starts_at)s, "
            "%(ends_at)s, %(phone)s, %(booked_at)s) RETURNING *", appointment)

    def appointment(self, appointment_no, lock=False):
        return self.one("SELECT * FROM appointments WHERE appointment_no = %s" + (" FOR UPDATE" if lock else ""),
                        (appointment_no,))

    def cancel_appointment(self, appointment_no, now):
        return self.one("UPDATE appointments SET cancelled_at = %s WHERE appointment_no = %s RETURNING *",
                        (now, appointment_no))

    def appointment_ticketed(self, appointment_no, ticket_no):
        self.execute("UPDATE appointments SET ticket_no = %s WHERE appointment_no = %s", (ticket_no, appointment_no))

    def reminders_due(self, day):
        """Booked appointments of `day` not yet reminded, locked (SKIP LOCKED:
        two replicas never remind the same one)."""
        return self.all("SELECT * FROM appointments WHERE day = %s AND cancelled_at IS NULL AND ticket_no IS NULL "
                        "AND reminded_at IS NULL ORDER BY appointment_no FOR UPDATE SKIP LOCKED", (day,))

    def reminded(self, appointment_no, now):
        self.execute("UPDATE appointments SET reminded_at = %s WHERE appointment_no = %s", (now, appointment_no))

    def missed_by(self, now):
        """Appointments whose slot ended with no ticket and not yet counted."""
        return self.all("SELECT * FROM appointments WHERE ends_at <= %s AND cancelled_at IS NULL AND ticket_no IS NULL "
                        "AND missed_at IS NULL ORDER BY appointment_no FOR UPDATE SKIP LOCKED", (now,))

    def missed(self, appointment_no, now):
        self.execute("UPDATE appointments SET missed_at = %s WHERE appointment_no = %s", (now, appointment_no))

    # ------------------------------------------------------------ visits

    def add_visit(self, visit):
        return self.one(
            "INSERT INTO visits (visit_no, kind, item_code, phone, address, preferred_date, requested_at, history) "
            "VALUES (%(visit_no)s, %(kind)s, %(item_code)s, %(phone)s, %(address)s, %(preferred_date)s, "
            "%(requested_at)s, %(history)s) RETURNING *", dict(visit, history=Jsonb(visit["history"])))

    def visit(self, visit_no, lock=False):
        return self.one("SELECT * FROM visits WHERE visit_no = %s" + (" FOR UPDATE" if lock else ""), (visit_no,))

    def assign_visit(self, visit_no, staff, scheduled_date, now, entry):
        return self.one("UPDATE visits SET assigned_to = %s, scheduled_date = %s, assigned_at = %s, "
                        "history = history || %s WHERE visit_no = %s RETURNING *",
                        (staff, scheduled_date, now, Jsonb([entry]), visit_no))

    def complete_visit(self, visit_no, application_no, now, entry):
        return self.one("UPDATE visits SET completed_at = %s, application_no = %s, history = history || %s "
                        "WHERE visit_no = %s RETURNING *", (now, application_no, Jsonb([entry]), visit_no))

    def visits(self, limit=1000):
        return self.all("SELECT * FROM visits ORDER BY requested_at DESC LIMIT %s", (limit,))

    # ------------------------------------------------------------ retention

    def purge(self, older_than):
        """Phones kept past retention are masked and a visit's address
        removed (the figures stay); the platform's retention removes the
        idempotency records, whose results hold phones. A visit never
        completed counts from its scheduled or preferred day."""
        masked = "left(phone, 3) || '****' || right(phone, 4)"
        return {
            "ticket_phones": self.execute("UPDATE tickets SET phone = NULL WHERE phone IS NOT NULL AND taken_at < %s",
                                          (older_than,)).rowcount,
            "appointment_phones": self.execute(
                f"UPDATE appointments SET phone = {masked} WHERE ends_at < %s AND phone !~ '[*]'",
                (older_than,)).rowcount,
            "visits": self.execute(
                f"UPDATE visits SET phone = CASE WHEN phone ~ '[*]' THEN phone ELSE {masked} END, address = '' "
                "WHERE COALESCE(completed_at, scheduled_date::timestamptz, preferred_date::timestamptz) < %s "
                "AND (phone !~ '[*]' OR address <> '')", (older_than,)).rowcount,
        }

    # ------------------------------------------------------------ report

    def report(self, start, end):
        """The hall's figures for the days start..end (inclusive)."""
        tickets = self.one(
            "SELECT count(*) AS tickets, count(*) FILTER (WHERE channel = 'remote') AS remote_tickets, "
            "count(*) FILTER (WHERE outcome = 'served') AS served, "
            "count(*) FILTER (WHERE outcome = 'no_show') AS no_shows, "
            "avg(extract(epoch FROM first_called_at - taken_at)) FILTER (WHERE first_called_at IS NOT NULL) "
            "AS average_wait_seconds FROM tickets WHERE service_day BETWEEN %s AND %s", (start, end))
        appointments = self.one(
            "SELECT count(*) AS appointments, count(*) FILTER (WHERE cancelled_at IS NOT NULL) AS cancelled, "
            "count(*) FILTER (WHERE missed_at IS NOT NULL) AS missed "
            "FROM appointments WHERE day BETWEEN %s AND %s", (start, end))
        visits = self.all(
            "SELECT kind, count(*) AS requested, count(*) FILTER (WHERE completed_at IS NOT NULL) AS completed "
            "FROM visits WHERE preferred_date BETWEEN %s AND %s GROUP BY kind", (start, end))
        return tickets, appointments, {r["kind"]: r for r in visits}
