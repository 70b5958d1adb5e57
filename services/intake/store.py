"""intake data access: one method per question or change."""
import pathlib

import yaml
from psycopg.types.json import Jsonb

from onewindow.db import Store

from . import domain

CATALOG_FILE = pathlib.Path(__file__).resolve().parent / "catalog.yaml"

# Catalog versions never change once loaded: parse each once per process.
_CATALOGS = {}

# Columns of `applications` that update_case may set.
_CASE_COLUMNS = {
    "status", "missing_materials", "materials_stage", "materials", "accepted_on", "clock_started_on",
    "due_date", "provisional", "visits", "review_started", "review_outcome", "rejections", "bill",
    "bill_status", "overdue", "outcome", "concluded_on", "receipt", "rating", "rating_comment", "rated_at",
}
_JSON_COLUMNS = {"missing_materials", "rejections", "bill", "receipt"}


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

    # ------------------------------------------------------------ idempotency

    def claim_request(self, operation, client_ref):
        """True for the first call with this key. A second identical call at
        the same instant waits here until the first commits, then gets False."""
        row = self.one("INSERT INTO client_requests (operation, client_ref) VALUES (%s, %s) "
                       "ON CONFLICT DO NOTHING RETURNING client_ref", (operation, client_ref))
        return row is not None

    def request_result(self, operation, client_ref):
        row = self.one("SELECT result FROM client_requests WHERE operation = %s AND client_ref = %s",
                       (operation, client_ref))
        return row["result"] if row else None

    def save_request_result(self, operation, client_ref, application_no, result):
        self.execute("UPDATE client_requests SET result = %s, application_no = %s "
                     "WHERE operation = %s AND client_ref = %s",
                     (Jsonb(result), application_no, operation, client_ref))

    # ------------------------------------------------------------ numbers

    def next_sequence(self, year):
        """The next number of the year; the counter row stays locked until
        this transaction ends, so a rolled-back call leaves no gap."""
        row = self.one("INSERT INTO application_counters (year, last_seq) VALUES (%s, 1) "
                       "ON CONFLICT (year) DO UPDATE SET last_seq = application_counters.last_seq + 1 "
                       "RETURNING last_seq", (year,))
        return row["last_seq"]

    # ------------------------------------------------------------ cases

    def add_application(self, case):
        self.execute(
            "INSERT INTO applications (application_no, client_ref, item_code, item_name, catalog_version, kind, "
            "channel, applicant, applicant_phone, form, materials, missing_materials, materials_stage, status, "
            "received_on, accepted_on, clock_started_on, due_date, provisional, visits, fee_lines, has_fees, "
            "free_registration, review_outcome, outcome, concluded_on, receipt) VALUES "
            "(%(application_no)s, %(client_ref)s, %(item_code)s, %(item_name)s, %(catalog_version)s, %(kind)s, "
            "%(channel)s, %(applicant)s, %(applicant_phone)s, %(form)s, %(materials)s, %(missing_materials)s, "
            "%(materials_stage)s, %(status)s, %(received_on)s, %(accepted_on)s, %(clock_started_on)s, "
            "%(due_date)s, %(provisional)s, %(visits)s, %(fee_lines)s, %(has_fees)s, %(free_registration)s, "
            "%(review_outcome)s, %(outcome)s, %(concluded_on)s, %(receipt)s)",
            dict(case, applicant=Jsonb(case["applicant"]), form=Jsonb(case["form"]),
                 missing_materials=Jsonb(case["missing_materials"]), fee_lines=Jsonb(case["fee_lines"]),
                 receipt=Jsonb(case["receipt"]) if case.get("receipt") is not None else None))

    def case(self, application_no, lock=False):
        return self.one("SELECT * FROM applications WHERE application_no = %s" + (" FOR UPDATE" if lock else ""),
                        (application_no,))

    def update_case(self, application_no, **changes):
        unknown = set(changes) - _CASE_COLUMNS
        if unknown:
            raise ValueError(f"not a case column: {sorted(unknown)}")
        sets = ", ".join(f"{column} = %({column})s" for column in changes)
        params = {k: Jsonb(v) if k in _JSON_COLUMNS and v is not None else v for k, v in changes.items()}
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

    def add_history(self, application_no, source, event_type, summary, event_id=None, detail=None, at=None):
        self.execute("INSERT INTO case_history (application_no, at, source, event_type, event_id, summary, detail) "
                     "VALUES (%s, coalesce(%s::timestamptz, now()), %s, %s, %s, %s, %s)",
                     (application_no, at, source, event_type, event_id, summary, Jsonb(detail or {})))

    def history(self, application_no):
        return self.all("SELECT at, source, event_type, summary, detail FROM case_history "
                        "WHERE application_no = %s ORDER BY at, id", (application_no,))

    def record_notice(self, notice):
        """The latest status of one SMS (a later status replaces an earlier)."""
        self.execute(
            "INSERT INTO case_notices (message_id, application_no, source_event_id, template, status, segments, "
            "phone_masked, text, at) VALUES (%(message_id)s, %(application_no)s, %(source_event_id)s, %(template)s, "
            "%(status)s, %(segments)s, %(phone_masked)s, %(text)s, %(at)s) ON CONFLICT (message_id) DO UPDATE SET "
            "status = CASE WHEN case_notices.status IN ('delivered', 'failed') AND EXCLUDED.status IN ('queued', 'sent') "
            "THEN case_notices.status ELSE EXCLUDED.status END, "
            "at = CASE WHEN case_notices.status IN ('delivered', 'failed') AND EXCLUDED.status IN ('queued', 'sent') "
            "THEN case_notices.at ELSE EXCLUDED.at END", notice)

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

    def period_figures(self, start, end, today):
        row = self.one(
            "SELECT count(*) AS received, "
            "count(*) FILTER (WHERE accepted_on IS NOT NULL) AS accepted, "
            "count(*) FILTER (WHERE accepted_on IS NOT NULL AND kind = 'instant') AS instant, "
            "count(*) FILTER (WHERE concluded_on IS NOT NULL) AS completed, "
            "count(*) FILTER (WHERE accepted_on IS NOT NULL AND (overdue OR concluded_on > due_date "
            "  OR (concluded_on IS NULL AND materials_stage IS NULL AND due_date < %(today)s))) AS overdue "
            "FROM applications WHERE received_on BETWEEN %(start)s AND %(end)s",
            {"start": start, "end": end, "today": today})
        ratings = self.one(
            "SELECT count(*) AS ratings, count(*) FILTER (WHERE rating >= 4) AS satisfied FROM applications "
            "WHERE rating IS NOT NULL AND (rated_at AT TIME ZONE current_setting('TimeZone'))::date "
            "BETWEEN %s AND %s", (start, end))
        fees = self.one(
            "SELECT coalesce(sum(CASE kind WHEN 'paid' THEN amount_fen WHEN 'refunded' THEN -amount_fen "
            "ELSE 0 END), 0) AS fees_fen FROM fee_movements "
            "WHERE (at AT TIME ZONE current_setting('TimeZone'))::date BETWEEN %s AND %s", (start, end))
        return dict(row, **ratings, fees_fen=int(fees["fees_fen"]))

    def gauges(self, today):
        return self.one(
            "SELECT count(*) FILTER (WHERE accepted_on IS NOT NULL) AS accepted, "
            "count(*) FILTER (WHERE accepted_on IS NOT NULL AND kind = 'instant') AS instant, "
            "count(*) FILTER (WHERE concluded_on IS NOT NULL) AS concluded, "
            "count(*) FILTER (WHERE concluded_on IS NULL AND accepted_on IS NOT NULL AND (overdue OR "
            "  (materials_stage IS NULL AND due_date < %s))) AS overdue FROM applications", (today,))
