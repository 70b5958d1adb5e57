"""review data access: one method per question or change."""
from psycopg.types.json import Jsonb

from onewindow import workdays
from onewindow.db import Store
from onewindow.validation import wire


def jsonb(value):
    """JSON column value with ISO dates."""
    return Jsonb(wire(value))

TASK_COLUMNS = (
    "t.task_id, t.application_no, t.department, t.department_name, t.lead, t.status, t.fields, "
    "t.limit_days, t.started_on, t.due_date, t.provisional, t.timeout_policy, t.supervisor_phone, "
    "t.clock, t.warning_level, t.decision, t.opinion, t.legal_basis, t.missing_materials, "
    "t.reviewer, t.acting_for, t.decided_at, t.created_at, t.updated_at"
)


_CALENDAR = workdays.CalendarCache()

class ReviewStore(Store):
    # ------------------------------------------------------------ applications

    def add_application(self, application_no, item_code, item_name, accepted_on, applicant, fees, event_id):
        """True when new; an application already known is left alone."""
        row = self.one(
            "INSERT INTO applications (application_no, item_code, item_name, accepted_on, applicant, fees, "
            "source_event_id) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (application_no) DO NOTHING RETURNING application_no",
            (application_no, item_code, item_name, accepted_on, jsonb(applicant), jsonb(fees), event_id),
        )
        return row is not None

    def application(self, application_no):
        return self.one("SELECT * FROM applications WHERE application_no = %s", (application_no,))

    def lock_application(self, application_no):
        """The application row, locked: decisions and supervision of one case
        happen one after the other, so concurrent ones all count."""
        return self.one("SELECT * FROM applications WHERE application_no = %s FOR UPDATE", (application_no,))

    def set_application_status(self, application_no, status, completed=False, next_clock=False):
        self.execute(
            "UPDATE applications SET status = %s, updated_at = now(), "
            "completed_at = CASE WHEN %s THEN now() ELSE completed_at END, "
            "clock = clock + CASE WHEN %s THEN 1 ELSE 0 END WHERE application_no = %s",
            (status, completed, next_clock, application_no),
        )

    # ------------------------------------------------------------ tasks

    def add_task(self, task):
        self.execute(
            "INSERT INTO tasks (task_id, application_no, department, department_name, lead, fields, limit_days, "
            "started_on, due_date, provisional, timeout_policy, supervisor_phone) "
            "VALUES (%(task_id)s, %(application_no)s, %(department)s, %(department_name)s, %(lead)s, %(fields)s, "
            "%(limit_days)s, %(started_on)s, %(due_date)s, %(provisional)s, %(timeout_policy)s, %(supervisor_phone)s)",
            dict(task, fields=jsonb(task["fields"])),
        )

    def task(self, task_id):
        return self.one(f"SELECT {TASK_COLUMNS} FROM tasks t WHERE t.task_id = %s", (task_id,))

    def tasks_of(self, application_no):
        return self.all(f"SELECT {TASK_COLUMNS} FROM tasks t WHERE t.application_no = %s "
                        "ORDER BY t.lead DESC, t.department", (application_no,))

    def tasks_of_department(self, department, status=None):
        return self.all(
            f"SELECT {TASK_COLUMNS}, a.item_code, a.item_name, a.accepted_on, a.status AS application_status, "
            "a.applicant->>'name_masked' AS applicant_name_masked "
            "FROM tasks t JOIN applications a USING (application_no) "
            "WHERE t.department = %s AND (%s::text IS NULL OR t.status = %s) "
            "ORDER BY t.due_date, t.created_at, t.task_id",
            (department, status, status),
        )

    def record_decision(self, task_id, status, decision, opinion, legal_basis, missing_materials, reviewer,
                        acting_for):
        return self.one(
            "UPDATE tasks SET status = %s, decision = %s, opinion = %s, legal_basis = %s, missing_materials = %s, "
            "reviewer = %s, acting_for = %s, decided_at = now(), updated_at = now() "
            "WHERE task_id = %s RETURNING decided_at",
            (status, decision, opinion, legal_basis,
             jsonb(missing_materials) if missing_materials is not None else None,
             reviewer, acting_for, task_id),
        )

    def make_moot(self, task_id):
        self.execute("UPDATE tasks SET status = 'moot', updated_at = now() WHERE task_id = %s AND status = 'open'",
                     (task_id,))

    def restart_task(self, task_id, started_on, due_date, provisional, clock):
        """A fresh clock after 补正 (restart, not resume): decision cleared, warnings reset."""
        self.execute(
            "UPDATE tasks SET status = 'open', started_on = %s, due_date = %s, provisional = %s, clock = %s, "
            "warning_level = 'none', decision = NULL, opinion = NULL, legal_basis = NULL, missing_materials = NULL, "
            "reviewer = NULL, acting_for = NULL, decided_at = NULL, updated_at = now() WHERE task_id = %s",
            (started_on, due_date, provisional, clock, task_id),
        )

    def set_warning_level(self, task_id, level):
        self.execute("UPDATE tasks SET warning_level = %s, updated_at = now() WHERE task_id = %s", (level, task_id))

    def set_due_date(self, task_id, due_date, provisional):
        self.execute("UPDATE tasks SET due_date = %s, provisional = %s, updated_at = now() WHERE task_id = %s",
                     (due_date, provisional, task_id))

    def open_tasks(self):
        """Every open task of a case under review (supervision's candidates)."""
        return self.all(
            f"SELECT {TASK_COLUMNS} FROM tasks t JOIN applications a USING (application_no) "
            "WHERE t.status = 'open' AND a.status = 'in_review' ORDER BY t.application_no, t.department"
        )

    def open_provisional_tasks(self):
        return self.all(
            f"SELECT {TASK_COLUMNS} FROM tasks t WHERE t.status = 'open' AND t.provisional "
            "ORDER BY t.application_no, t.department"
        )

    # ------------------------------------------------------------ idempotency of decide

    def decision_by_ref(self, client_ref):
        return self.one("SELECT * FROM decisions WHERE client_ref = %s", (client_ref,))

    def keep_decision_result(self, client_ref, task_id, decision, result):
        """Remember the first result of a client_ref; False if it was already taken."""
        row = self.one(
            "INSERT INTO decisions (client_ref, task_id, decision, result) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (client_ref) DO NOTHING RETURNING client_ref",
            (client_ref, task_id, decision, jsonb(result)),
        )
        return row is not None

    # ------------------------------------------------------------ rosters (AB岗)

    def roster(self, department):
        return self.one("SELECT * FROM rosters WHERE department = %s", (department,))

    def rosters(self, departments):
        rows = self.all("SELECT * FROM rosters WHERE department = ANY(%s)", (list(departments),))
        return {r["department"]: r for r in rows}

    def adopt_roster(self, roster):
        """The roster named by an accepted case, unless the department already has one."""
        self.execute(
            "INSERT INTO rosters (department, department_name, primary_id, primary_name, primary_phone, "
            "backup_id, backup_name, backup_phone, source) VALUES (%(department)s, %(department_name)s, "
            "%(primary_id)s, %(primary_name)s, %(primary_phone)s, %(backup_id)s, %(backup_name)s, %(backup_phone)s, "
            "'event') ON CONFLICT (department) DO NOTHING",
            roster,
        )

    def lock_roster(self, department):
        return self.one("SELECT * FROM rosters WHERE department = %s FOR UPDATE", (department,))

    def save_roster(self, roster):
        return self.one(
            "INSERT INTO rosters (department, department_name, primary_id, primary_name, primary_phone, "
            "primary_absent, backup_id, backup_name, backup_phone, backup_absent, source, updated_at) "
            "VALUES (%(department)s, %(department_name)s, %(primary_id)s, %(primary_name)s, %(primary_phone)s, "
            "%(primary_absent)s, %(backup_id)s, %(backup_name)s, %(backup_phone)s, %(backup_absent)s, 'set_roster', "
            "now()) ON CONFLICT (department) DO UPDATE SET department_name = EXCLUDED.department_name, "
            "primary_id = EXCLUDED.primary_id, primary_name = EXCLUDED.primary_name, "
            "primary_phone = EXCLUDED.primary_phone, primary_absent = EXCLUDED.primary_absent, "
            "backup_id = EXCLUDED.backup_id, backup_name = EXCLUDED.backup_name, "
            "backup_phone = EXCLUDED.backup_phone, backup_absent = EXCLUDED.backup_absent, "
            "source = 'set_roster', updated_at = now() RETURNING *",
            roster,
        )

    def set_absence(self, department, post, absent):
        column = {"primary": "primary_absent", "backup": "backup_absent"}[post]
        return self.one(f"UPDATE rosters SET {column} = %s, updated_at = now() WHERE department = %s RETURNING *",
                        (absent, department))

    # ------------------------------------------------------------ supervision

    def issued_levels(self, task_id, clock):
        return {r["level"] for r in self.all(
            "SELECT level FROM supervision_notices WHERE task_id = %s AND clock = %s", (task_id, clock))}

    def issue_notice(self, task, level, working_days, as_of):
        """The notice of one level for the task's clock, or None when another
        supervisor (or an earlier pass) already issued it."""
        row = self.one(
            "INSERT INTO supervision_notices (task_id, clock, level, notice_no, application_no, department, "
            "due_date, working_days, as_of) VALUES (%s, %s, %s, "
            "CASE WHEN %s::text = 'red' THEN 'DB-' || to_char(%s::date, 'YYYY') || '-' "
            "     || lpad(nextval('supervision_notice_seq')::text, 6, '0') END, "
            "%s, %s, %s, %s, %s) ON CONFLICT (task_id, clock, level) DO NOTHING RETURNING *",
            (task["task_id"], task["clock"], level, level, as_of, task["application_no"], task["department"],
             task["due_date"], working_days, as_of),
        )
        return row

    def notices_of(self, application_no):
        return self.all("SELECT * FROM supervision_notices WHERE application_no = %s ORDER BY issued_at, level",
                        (application_no,))

    def lock_applications_under_review(self, application_nos):
        """Lock the cases in a fixed order, so supervisors running at once never deadlock."""
        return self.all(
            "SELECT application_no, clock FROM applications WHERE application_no = ANY(%s) AND status = 'in_review' "
            "ORDER BY application_no FOR UPDATE",
            (sorted(application_nos),),
        )

    def department_counts(self, today):
        """Per department: open, yellow, red and overdue tasks (for the gauges)."""
        return self.all(
            "SELECT department, "
            "count(*) FILTER (WHERE status = 'open') AS open, "
            "count(*) FILTER (WHERE status = 'open' AND warning_level = 'yellow') AS yellow, "
            "count(*) FILTER (WHERE status = 'open' AND warning_level = 'red') AS red, "
            "count(*) FILTER (WHERE status = 'open' AND due_date < %s) AS overdue "
            "FROM tasks GROUP BY department ORDER BY department",
            (today,),
        )

    # ------------------------------------------------------------ audit trail

    def audit(self, application_no, actor, action, task_id=None, department=None, acting_for=None,
              before=None, after=None, detail=None):
        self.execute(
            "INSERT INTO history (application_no, task_id, department, actor, acting_for, action, before, after, "
            "detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (application_no, task_id, department, actor, acting_for, action,
             jsonb(before) if before is not None else None, jsonb(after) if after is not None else None,
             jsonb(detail or {})),
        )

    def history_of(self, application_no):
        return self.all(
            "SELECT at, actor, acting_for, action, task_id, department, before, after, detail FROM history "
            "WHERE application_no = %s ORDER BY id",
            (application_no,),
        )

    # ------------------------------------------------------------ calendar

    def calendar(self, fresh=False):
        """The working-day calendar with this service's loaded years, re-read
        at most every 30 s (an operator's new year shows up within that), or
        now when `fresh`."""
        if fresh:
            _CALENDAR.invalidate()
        return _CALENDAR.get(self.unit)
