"""intake data access: one method per question or change."""
import pathlib

import yaml
from psycopg.types.json import Jsonb

from onewindow.db import Store

from . import domain

CATALOG_FILE = pathlib.Path(__file__).resolve().parent / "catalog.yaml"

# Catalog versions never change once loaded: parse each once per process.
_CATALOGS = {}

# The columns of `applications`, from the record's fields.
_COLUMNS = domain.APPLICATION_COLUMNS
_WRITTEN = [name for name, column in _COLUMNS.items() if not column["set_by_database"]]
_INSERT = (f"INSERT INTO applications ({', '.join(_WRITTEN)}) VALUES "
           f"({', '.join(f'%({name})s' for name in _WRITTEN)})")


def _stored(name, value):
    """A record's value as its column takes it."""
    column = _COLUMNS[name]
    if column["empty_is_null"] and not value:
        return None
    return Jsonb(value) if column["jsonb"] and value is not None else value


def read_catalog_file(path=CATALOG_FILE):
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def bootstrap(unit, path=CATALOG_FILE):
    """Load the catalog data file as a new catalog version unless that
    version is already loaded (safe to run again)."""
    document = read_catalog_file(path)
    return IntakeStore(unit).load_catalog(document)


class IntakeStore(Store):
    # ------------------------------------------------------------ catalog

    def load_catalog(self, document):
        catalog = domain.Catalog(document)  # refuses an inconsistent document
        checksum = domain.catalog_checksum(document)
        self.execute("LOCK TABLE catalog_versions IN SHARE ROW EXCLUSIVE MODE")
        known = self.one("SELECT version_no, checksum FROM catalog_versions WHERE label = %s", (catalog.label,))
        if known:
            if known["checksum"] != checksum:
                raise domain.CatalogError(
                    f"catalog version {catalog.label} is loaded with other content: give the file a new version")
            return f"catalog {catalog.label} already loaded"
        row = self.one("INSERT INTO catalog_versions (label, checksum, document) VALUES (%s, %s, %s) "
                       "RETURNING version_no", (catalog.label, checksum, Jsonb(document)))
        for item in catalog.items.values():
            self.execute(
                "INSERT INTO catalog_items (version_no, code, name, kind, legal_limit_days, "
                "committed_limit_days, departments) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (row["version_no"], item["code"], item["name"], item["kind"], item["legal_limit_days"],
                 item["committed_limit_days"], [d["code"] for d in item["departments"]]))
        return f"catalog {catalog.label} loaded ({len(catalog.items)} items, {len(catalog.departments)} departments)"

    def current_catalog(self):
        row = self.one("SELECT version_no, checksum FROM catalog_versions ORDER BY version_no DESC LIMIT 1")
        if row is None:
            raise LookupError("no catalog loaded: run `onewindow setup`")
        return self._parsed(row["version_no"], row["checksum"])

    def catalog(self, version_no):
        row = self.one("SELECT version_no, checksum FROM catalog_versions WHERE version_no = %s", (version_no,))
        if row is None:
            raise LookupError(f"catalog version {version_no} unknown")
        return self._parsed(row["version_no"], row["checksum"])

    def _parsed(self, version_no, checksum):
        key = (version_no, checksum)
        if key not in _CATALOGS:
            row = self.one("SELECT document FROM catalog_versions WHERE version_no = %s", (version_no,))
            _CATALOGS[key] = domain.Catalog(row["document"], version_no)
        return _CATALOGS[key]

    # ------------------------------------------------------------ numbers

    def next_sequence(self, year):
        """The next number of the year; the counter row stays locked until
        this transaction ends, so a rolled-back call leaves no gap. Every
        submit queues for it, and under full load a holder waited its turn
        in the process at each of its round trips (75-115 ms of queue per
        submit in the bench), so it is a `locked` read: the rest of the
        unit goes pipelined, its writes and the commit in one round trip.
        Not undivided (UnitOfWork.undivided): that emptied the queue but
        stopped all of intake at each round trip of every submit, and
        full-load latency doubled."""
        return self.locked("INSERT INTO application_counters (year, last_seq) VALUES (%s, 1) "
                           "ON CONFLICT (year) DO UPDATE SET last_seq = application_counters.last_seq + 1 "
                           "RETURNING last_seq", (year,))["last_seq"]

    def next_document(self, kind, year):
        """The next number of a refusal, inquiry or complaint of the year,
        gap-free (and as briefly held) like application numbers."""
        return self.locked("INSERT INTO document_counters (kind, year, last_value) VALUES (%s, %s, 1) "
                           "ON CONFLICT (kind, year) DO UPDATE SET last_value = document_counters.last_value + 1 "
                           "RETURNING last_value", (kind, year))["last_value"]

    # ------------------------------------------------------------ cases

    def add_application(self, case):
        self.execute(_INSERT, {name: _stored(name, getattr(case, name)) for name in _WRITTEN})

    def case(self, application_no, lock=False):
        """The Application, or None. `lock`: FOR NO KEY UPDATE, which
        serialises the case's changes but not the rows that only refer to it
        (a notice, a history line: their foreign key takes a key share,
        which FOR UPDATE would make wait behind a decision or a payment)."""
        row = (self.locked if lock else self.one)("SELECT * FROM applications WHERE application_no = %s"
                                                   + (" FOR NO KEY UPDATE" if lock else ""), (application_no,))
        return domain.Application(**row) if row else None

    def update_case(self, application_no, **changes):
        unchangeable = sorted(c for c in changes if c not in _COLUMNS or _COLUMNS[c]["fixed"]
                              or _COLUMNS[c]["set_by_database"])
        if unchangeable:
            raise ValueError(f"not a case column that changes: {unchangeable}")
        sets = ", ".join(f"{column} = %({column})s" for column in changes)
        params = {name: _stored(name, value) for name, value in changes.items()}
        params["application_no"] = application_no
        self.execute(f"UPDATE applications SET {sets} WHERE application_no = %(application_no)s", params)

    def add_departments(self, application_no, departments):
        for position, d in enumerate(departments):
            self.execute(
                "INSERT INTO case_departments (application_no, department, position, name, lead, limit_days, "
                "timeout_policy, due_date, provisional) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (application_no, department) DO UPDATE SET due_date = EXCLUDED.due_date, "
                "provisional = EXCLUDED.provisional",
                (application_no, d["code"], position, d["name"], d["lead"], d["limit_days"], d["timeout_policy"],
                 d["due_date"], d["provisional"]))

    def departments(self, application_no):
        return self.all("SELECT * FROM case_departments WHERE application_no = %s ORDER BY position",
                        (application_no,))

    def update_department(self, application_no, department, **changes):
        if not changes:
            return
        sets = ", ".join(f"{column} = %({column})s" for column in changes)
        row = self.one(f"UPDATE case_departments SET {sets} WHERE application_no = %(application_no)s "
                       "AND department = %(department)s RETURNING department",
                       dict(changes, application_no=application_no, department=department))
        return row is not None

    def moot_departments(self, application_no):
        """A withdrawn case: the departments still deciding have nothing left
        to decide."""
        rows = self.all("UPDATE case_departments SET status = 'moot' WHERE application_no = %s "
                        "AND status IN ('open', 'materials_requested') RETURNING department, position",
                        (application_no,))
        return [r["department"] for r in sorted(rows, key=lambda r: r["position"])]

    def add_history(self, application_no, source, event_type, summary, event_id=None, detail=None, at=None,
                    by=None):
        """`by`: the principal behind a change made here (None for another
        service's event)."""
        self.execute("INSERT INTO case_history (application_no, at, source, event_type, event_id, summary, detail, "
                     "by) VALUES (%s, coalesce(%s::timestamptz, now()), %s, %s, %s, %s, %s, %s)",
                     (application_no, at, source, event_type, event_id, summary, Jsonb(detail or {}), by))

    def history(self, application_no):
        return self.all("SELECT at, source, event_type, summary, detail, by FROM case_history "
                        "WHERE application_no = %s ORDER BY at, id", (application_no,))

    def record_notices(self, notices):
        """Each notice (one per SMS: a statement may not touch a row twice)
        against the stored one, the status that stands winning
        (domain.later_notice), in one statement. The message_ids recorded:
        a case not known here (yet) records none."""
        if not notices:
            return set()
        return {row["message_id"] for row in self.all(
            "INSERT INTO case_notices (message_id, application_no, source_event_id, template, status, segments, "
            "phone_masked, text, at) SELECT n.message_id, n.application_no, n.source_event_id, n.template, n.status, "
            "n.segments, n.phone_masked, n.text, n.at FROM jsonb_to_recordset(%(notices)s) AS n(message_id text, "
            "application_no text, source_event_id text, template text, status text, segments integer, "
            "phone_masked text, text text, at text) "
            "WHERE EXISTS (SELECT 1 FROM applications a WHERE a.application_no = n.application_no) "
            # domain.later_notice, against the stored one
            "ON CONFLICT (message_id) DO UPDATE SET "
            "status = CASE WHEN case_notices.status = ANY(%(final)s) AND EXCLUDED.status = ANY(%(passing)s) "
            "THEN case_notices.status ELSE EXCLUDED.status END, "
            "at = CASE WHEN case_notices.status = ANY(%(final)s) AND EXCLUDED.status = ANY(%(passing)s) "
            "THEN case_notices.at ELSE EXCLUDED.at END RETURNING message_id",
            {"notices": Jsonb(notices), "final": list(domain.FINAL_NOTICE), "passing": list(domain.PASSING_NOTICE)})}

    def notices(self, application_no):
        return self.all("SELECT message_id, template, status, segments, phone_masked, text, at "
                        "FROM case_notices WHERE application_no = %s ORDER BY at, message_id", (application_no,))

    def record_fee_movement(self, event_id, application_no, kind, amount_fen, at):
        self.execute("INSERT INTO fee_movements (event_id, application_no, kind, amount_fen, at) "
                     "VALUES (%s, %s, %s, %s, coalesce(%s::timestamptz, now())) ON CONFLICT DO NOTHING",
                     (event_id, application_no, kind, amount_fen, at))

    # ------------------------------------------------------------ clocks

    def provisional_cases(self):
        return self.all("SELECT application_no, catalog_version, item_code, clock_started_on FROM applications "
                        "WHERE provisional AND concluded_on IS NULL AND clock_started_on IS NOT NULL "
                        "FOR UPDATE")

    def provisional_departments(self, application_no):
        return self.all("SELECT department, limit_days FROM case_departments "
                        "WHERE application_no = %s AND status IN ('open', 'materials_requested')",
                        (application_no,))

    # ------------------------------------------------------------ figures

    def period_figures(self, start, end):
        """Counts of the period; `overdue` is counted from clock_rows by the
        domain's rule."""
        row = self.one(
            "SELECT count(*) AS received, "
            "count(*) FILTER (WHERE accepted_on IS NOT NULL) AS accepted, "
            "count(*) FILTER (WHERE accepted_on IS NOT NULL AND kind = 'instant') AS instant, "
            "count(*) FILTER (WHERE concluded_on IS NOT NULL) AS completed, "
            "count(*) FILTER (WHERE status = 'refused') AS refused "
            "FROM applications WHERE received_on BETWEEN %(start)s AND %(end)s",
            {"start": start, "end": end})
        withdrawn = self.one("SELECT count(*) AS withdrawn FROM applications "
                             "WHERE withdrawn_on BETWEEN %s AND %s", (start, end))
        inquiries = self.one("SELECT count(*) AS inquiries FROM inquiries WHERE asked_on BETWEEN %s AND %s",
                             (start, end))
        complaints = self.one("SELECT count(*) AS complaints FROM complaints WHERE received_on BETWEEN %s AND %s",
                              (start, end))
        ratings = self.one(
            "SELECT count(*) AS ratings, count(*) FILTER (WHERE rating >= 4) AS satisfied FROM applications "
            "WHERE rating IS NOT NULL AND (rated_at AT TIME ZONE current_setting('TimeZone'))::date "
            "BETWEEN %s AND %s", (start, end))
        fees = self.one(
            "SELECT coalesce(sum(CASE kind WHEN 'paid' THEN amount_fen WHEN 'refunded' THEN -amount_fen "
            "ELSE 0 END), 0) AS fees_fen FROM fee_movements "
            "WHERE (at AT TIME ZONE current_setting('TimeZone'))::date BETWEEN %s AND %s", (start, end))
        return dict(row, **withdrawn, **inquiries, **complaints, **ratings, fees_fen=int(fees["fees_fen"]))

    CLOCK_COLUMNS = "application_no, accepted_on, due_date, decided_on, materials_stage, overdue, withdrawn_on"

    def clock_rows(self, start, end):
        """The clocks of the cases accepted among those received in the period."""
        return self.all(f"SELECT {self.CLOCK_COLUMNS} FROM applications WHERE received_on BETWEEN %s AND %s "
                        "AND accepted_on IS NOT NULL", (start, end))

    def open_clock_rows(self):
        """The clocks of cases still open (not concluded, not withdrawn)."""
        return self.all(f"SELECT {self.CLOCK_COLUMNS} FROM applications WHERE concluded_on IS NULL "
                        "AND withdrawn_on IS NULL AND accepted_on IS NOT NULL")

    def inquiry_counts(self, start, end, column):
        key = {"window": "coalesce(window_code, '')", "topic": "topic"}[column]  # fixed SQL, never caller text
        return {r["key"]: r["n"] for r in self.all(
            f"SELECT {key} AS key, count(*) AS n FROM inquiries WHERE asked_on BETWEEN %s AND %s "
            "GROUP BY 1 ORDER BY 1", (start, end))}

    def gauges(self):
        return self.one(
            "SELECT count(*) FILTER (WHERE accepted_on IS NOT NULL) AS accepted, "
            "count(*) FILTER (WHERE accepted_on IS NOT NULL AND kind = 'instant') AS instant, "
            "count(*) FILTER (WHERE concluded_on IS NOT NULL) AS concluded FROM applications")

    # ------------------------------------------------------------ publicity, ranking

    def concluded_cases(self, start, end):
        """Cases concluded in the period, oldest first, with what publicity
        and ranking need."""
        return self.all(
            f"SELECT {self.CLOCK_COLUMNS}, item_code, item_name, applicant, outcome, concluded_on, "
            "window_code, rating FROM applications WHERE concluded_on BETWEEN %s AND %s "
            "ORDER BY concluded_on, application_no", (start, end))

    def decided_tasks(self, start, end):
        """Each department's part in the cases concluded in the period."""
        return self.all(
            "SELECT d.application_no, d.department, d.reviewer, d.due_date, d.decided_at, d.warning_level, "
            "d.status, a.clock_started_on, a.accepted_on, a.rating FROM case_departments d "
            "JOIN applications a USING (application_no) WHERE a.concluded_on BETWEEN %s AND %s "
            "AND d.decided_at IS NOT NULL ORDER BY d.application_no, d.position", (start, end))

    def complaint_counts(self, start, end, by):
        """Complaints received in the period per department, window or
        reviewer (through the case and department complained about)."""
        key = {"department": "c.department", "window": "a.window_code", "reviewer": "d.reviewer"}[by]
        return {r["key"]: r["n"] for r in self.all(
            f"SELECT {key} AS key, count(*) AS n FROM complaints c "
            "LEFT JOIN applications a USING (application_no) "
            "LEFT JOIN case_departments d ON d.application_no = c.application_no AND d.department = c.department "
            f"WHERE c.received_on BETWEEN %s AND %s AND {key} IS NOT NULL GROUP BY 1", (start, end))}

    # ------------------------------------------------------------ inquiries, complaints

    def add_inquiry(self, inquiry):
        self.execute(
            "INSERT INTO inquiries (inquiry_no, channel, topic, answered_by, window_code, item_code, phone, "
            "referred_to, asked_on) VALUES (%(inquiry_no)s, %(channel)s, %(topic)s, %(answered_by)s, "
            "%(window_code)s, %(item_code)s, %(phone)s, %(referred_to)s, %(asked_on)s)", inquiry)
        return self.one("SELECT * FROM inquiries WHERE inquiry_no = %s", (inquiry["inquiry_no"],))

    def add_complaint(self, complaint):
        self.execute(
            "INSERT INTO complaints (complaint_no, text, phone, application_no, department, window_code, "
            "received_on, due_date, provisional) VALUES (%(complaint_no)s, %(text)s, %(phone)s, "
            "%(application_no)s, %(department)s, %(window_code)s, %(received_on)s, %(due_date)s, "
            "%(provisional)s)", complaint)
        return self.complaint(complaint["complaint_no"])

    def complaint(self, complaint_no, lock=False):
        return self.one("SELECT * FROM complaints WHERE complaint_no = %s" + (" FOR UPDATE" if lock else ""),
                        (complaint_no,))

    def complaints(self, status=None):
        where = {None: "", "open": "WHERE answered_at IS NULL", "answered": "WHERE answered_at IS NOT NULL"}[status]
        return self.all(f"SELECT * FROM complaints {where} ORDER BY received_at, complaint_no")

    def open_complaints(self):
        """Unanswered complaints, locked; replicas supervising at once skip
        each other's rows."""
        return self.all("SELECT * FROM complaints WHERE answered_at IS NULL ORDER BY due_date, complaint_no "
                        "FOR UPDATE SKIP LOCKED")

    def update_complaint(self, complaint_no, **changes):
        sets = ", ".join(f"{column} = %({column})s" for column in changes)
        self.execute(f"UPDATE complaints SET {sets} WHERE complaint_no = %(complaint_no)s",
                     dict(changes, complaint_no=complaint_no))
