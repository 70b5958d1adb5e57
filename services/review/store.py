"""review data access: one method per question or change."""
from psycopg.types.json import Jsonb

from onewindow import personal
from onewindow.db import Store
from onewindow.validation import wire


def jsonb(value):
    """JSON column value with ISO dates."""
    return Jsonb(wire(value))

TASK_COLUMNS = (
    "t.task_id, t.application_no, t.department, t.department_name, t.lead, t.status, t.fields, "
    "t.limit_days, t.started_on, t.due_date, t.provisional, t.timeout_policy, t.supervisor_phone, "
    "t.clock, t.warning_level, t.decision, t.opinion, t.legal_basis, t.missing_materials, "
    "t.reviewer, t.acting_for, t.decided_at, t.created_at, t.updated_at, t.extension, t.result"
)
TASK = f"SELECT {TASK_COLUMNS} FROM tasks t WHERE t.task_id = %s"
LOCK_APPLICATION = "SELECT * FROM applications WHERE application_no = %s FOR NO KEY UPDATE"
# what a department's list shows beside each task; green channel (绿色通道) first
LISTED_COLUMNS = (
    f"{TASK_COLUMNS}, a.item_code, a.item_name, a.accepted_on, a.status AS application_status, "
    "a.applicant->>'name_masked' AS applicant_name_masked, a.green_channel"
)


# Rosters with their `members` in roster order, of the departments in %s.
ROSTERS = ("SELECT r.*, COALESCE((SELECT json_agg(json_build_object('id', m.reviewer, 'name', m.name, "
           "  'phone', m.phone, 'post', m.post, 'position', m.position, 'absent', m.absent) "
           "  ORDER BY m.post = 'backup', m.position) FROM roster_members m WHERE m.department = r.department), "
           "  '[]') AS members "
           "FROM rosters r WHERE r.department = ANY(%s)")
FEED_LOCK = 72021  # taken shared as a task change commits (migration 0005), exclusively by the feed


class ReviewStore(Store):
    def purge(self, older_than):
        """Retention (onewindow.retention): a case concluded (approved,
        rejected, withdrawn) before the cut-off keeps its applicant's masked
        name and phone only; intake keeps the case record."""
        return {"applicants_masked": self.execute(
            f"UPDATE applications SET applicant = {personal.mask_applicant_sql('applicant')} "
            "WHERE status IN ('approved', 'rejected', 'withdrawn') AND COALESCE(completed_at, updated_at) < %s "
            f"AND {personal.applicant_unmasked_sql('applicant')}", (older_than,)).rowcount}

    # ------------------------------------------------------------ applications

    def add_application(self, application_no, item_code, item_name, accepted_on, applicant, fees, event_id,
                        legal_limit_days=None, materials=(), green_channel=None):
        """True when new; an application already known is left alone."""
        row = self.one(
            "INSERT INTO applications (application_no, item_code, item_name, accepted_on, applicant, fees, "
            "source_event_id, legal_limit_days, materials, green_channel) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (application_no) DO NOTHING RETURNING application_no",
            (application_no, item_code, item_name, accepted_on, jsonb(applicant), jsonb(fees), event_id,
             legal_limit_days, jsonb(list(materials)), jsonb(green_channel) if green_channel else None),
        )
        return row is not None

    def application(self, application_no):
        return self.one("SELECT * FROM applications WHERE application_no = %s", (application_no,))

    def lock_application(self, application_no):
        """The application row, locked: decisions and supervision of one case
        happen one after the other, so concurrent ones all count. FOR NO KEY
        UPDATE: a task or history row referring to it need not wait."""
        return self.locked(LOCK_APPLICATION, (application_no,))

    def lock_application_of(self, task):
        """lock_application for the task's case, and the task as it is once
        the lock is held: one round trip, since PostgreSQL runs the second
        statement when the first has the lock, with a snapshot taken then.
        (task, application)."""
        applications, tasks = self.all_at_once((LOCK_APPLICATION, (task["application_no"],)),
                                               (TASK, (task["task_id"],)))
        self.unit.pipelined()  # as Store.locked: the rest of the unit, writes and commit, in one round trip
        return tasks[0], applications[0]

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
        return self.one(TASK, (task_id,))

    def tasks_of(self, application_no):
        return self.all(f"SELECT {TASK_COLUMNS} FROM tasks t WHERE t.application_no = %s "
                        "ORDER BY t.lead DESC, t.department", (application_no,))

    def tasks_of_department(self, department, status=None, limit=None, offset=0):
        """Green channel first, then soonest due."""
        return self.all(
            f"SELECT {LISTED_COLUMNS} FROM tasks t JOIN applications a USING (application_no) "
            "WHERE t.department = %s AND (%s::text IS NULL OR t.status = %s) "
            "ORDER BY a.green_channel IS NULL, t.due_date, t.created_at, t.task_id LIMIT %s OFFSET %s",
            (department, status, status, limit, offset),
        )

    def feed(self, department, after, limit):
        """(the department's tasks changed after position `after`, in the
        order of their changes; its roster). The feed's lock waits for every
        commit that is drawing a position as this read begins (see migration
        0005), so a later change always lands after the positions served
        here. Every commit of a task change waits while the feed holds it:
        the lock, the reads and, when they are the unit's first work, their
        COMMIT go in one round trip (UnitOfWork.reads_alone), so PostgreSQL
        holds it for as long as it takes to run them; else (the caller's
        principal read first) it is held until the unit commits, undivided.
        PostgreSQL runs the read once it holds the lock, with a snapshot
        taken then (two statements, never one, whose snapshot would precede
        the wait). The roster comes with it: most polls find no tasks and
        need none, but a statement costs less than a round trip."""
        if self.unit.begun:
            self.unit.undivided()
        _, rows, rosters = self.reads_alone(
            ("SELECT pg_advisory_xact_lock(%s)", (FEED_LOCK,)),
            (f"SELECT {LISTED_COLUMNS}, t.feed_seq FROM tasks t JOIN applications a USING (application_no) "
             "WHERE t.department = %s AND t.feed_seq > %s ORDER BY t.feed_seq LIMIT %s", (department, after, limit)),
            (ROSTERS, ([department],)),
        )
        return rows, (rosters[0] if rosters else None)

    def vetoes(self, start, end):
        """Every rejection filed in [start, end] (days in the centre's zone)."""
        return self.all(
            "SELECT t.application_no, a.item_code, a.item_name, t.task_id, t.department, t.department_name, "
            "t.reviewer, t.acting_for, t.opinion, t.legal_basis, t.decided_at AS filed_at FROM tasks t "
            "JOIN applications a USING (application_no) WHERE t.decision = 'reject' "
            "AND t.decided_at::date BETWEEN %s AND %s ORDER BY t.decided_at, t.department",
            (start, end),
        )

    def record_decision(self, task_id, status, decision, opinion, legal_basis, missing_materials, reviewer,
                        acting_for, result=None):
        """The task as decided."""
        return self.one(
            "UPDATE tasks t SET status = %s, decision = %s, opinion = %s, legal_basis = %s, missing_materials = %s, "
            "reviewer = %s, acting_for = %s, result = %s, decided_at = now(), updated_at = now() "
            f"WHERE t.task_id = %s RETURNING {TASK_COLUMNS}",
            (status, decision, opinion, legal_basis,
             jsonb(missing_materials) if missing_materials is not None else None,
             reviewer, acting_for, jsonb(result) if result is not None else None, task_id),
        )

    def extend_task(self, task_id, extension, extension_ref):
        """True when this call extended it (a task is extended once)."""
        return self.one(
            "UPDATE tasks SET due_date = %s, provisional = %s, warning_level = 'none', extension = %s, "
            "extension_ref = %s, updated_at = now() WHERE task_id = %s AND extension IS NULL RETURNING task_id",
            (extension["due_date"], extension["provisional"], jsonb(extension), extension_ref, task_id),
        ) is not None

    def task_by_extension_ref(self, extension_ref):
        return self.one(f"SELECT {TASK_COLUMNS}, t.extension_ref FROM tasks t WHERE t.extension_ref = %s",
                        (extension_ref,))

    def make_moot(self, task_id):
        self.execute("UPDATE tasks SET status = 'moot', updated_at = now() WHERE task_id = %s AND status = 'open'",
                     (task_id,))

    def restart_task(self, task_id, started_on, due_date, provisional, clock):
        """A fresh clock after 补正 (restart, not resume): decision cleared, the
        new clock's level `none`; what earlier clocks issued stays in
        supervision_notices."""
        self.execute(
            "UPDATE tasks SET status = 'open', started_on = %s, due_date = %s, provisional = %s, clock = %s, "
            "warning_level = 'none', decision = NULL, opinion = NULL, legal_basis = NULL, missing_materials = NULL, "
            "reviewer = NULL, acting_for = NULL, result = NULL, decided_at = NULL, updated_at = now() "
            "WHERE task_id = %s",
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

    # ------------------------------------------------------------ rosters (AB岗 with pools)

    def roster(self, department):
        return self.rosters([department]).get(department)

    def rosters(self, departments):
        """{department: roster with its `members` in roster order}: one
        statement, read with every task list, decision and feed page."""
        rows = self.all(ROSTERS, (list(departments),))
        return {r["department"]: r for r in rows}

    def adopt_roster(self, roster):
        """The roster named by an accepted case, unless the department already has one."""
        if self.one("INSERT INTO rosters (department, department_name, source) VALUES (%s, %s, 'event') "
                    "ON CONFLICT (department) DO NOTHING RETURNING department",
                    (roster["department"], roster["department_name"])) is not None:
            self._add_members(roster)

    def lock_roster(self, department):
        if self.one("SELECT 1 FROM rosters WHERE department = %s FOR UPDATE", (department,)) is None:
            return None
        return self.roster(department)

    def save_roster(self, roster, by=None):
        self.execute(
            "INSERT INTO rosters (department, department_name, source, updated_at, updated_by) VALUES (%s, %s, "
            "'set_roster', now(), %s) ON CONFLICT (department) DO UPDATE SET department_name = "
            "EXCLUDED.department_name, source = 'set_roster', updated_at = now(), updated_by = EXCLUDED.updated_by",
            (roster["department"], roster["department_name"], by))
        self.execute("DELETE FROM roster_members WHERE department = %s", (roster["department"],))
        self._add_members(roster)
        return self.roster(roster["department"])

    def _add_members(self, roster):
        for member in roster["members"]:
            self.execute(
                "INSERT INTO roster_members (department, reviewer, post, position, name, phone, absent) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (roster["department"], member["id"], member["post"], member["position"], member["name"],
                 member["phone"], member["absent"]))

    def set_absence(self, department, reviewer, absent, by=None):
        self.execute("UPDATE roster_members SET absent = %s WHERE department = %s AND reviewer = %s",
                     (absent, department, reviewer))
        self.execute("UPDATE rosters SET updated_at = now(), updated_by = %s WHERE department = %s",
                     (by, department))
        return self.roster(department)

    def open_tasks_of_department(self, department):
        return self.all(
            f"SELECT {TASK_COLUMNS} FROM tasks t JOIN applications a USING (application_no) "
            "WHERE t.department = %s AND t.status = 'open' AND a.status = 'in_review' ORDER BY t.application_no",
            (department,))

    # ------------------------------------------------------------ supervision

    def issued_levels(self, task):
        """What supervision issued for the task's clock: `red` once per clock,
        the others once per due date."""
        return {r["level"] for r in self.all(
            "SELECT level FROM supervision_notices WHERE task_id = %s AND clock = %s "
            "AND (level = 'red' OR due_date = %s)", (task["task_id"], task["clock"], task["due_date"]))}

    def issued_levels_of_open_tasks(self):
        """{task_id: issued levels} for every open task's clock and due date."""
        found = {}
        for row in self.all(
                "SELECT n.task_id, n.level FROM supervision_notices n JOIN tasks t ON t.task_id = n.task_id "
                "AND t.clock = n.clock AND (n.level = 'red' OR n.due_date = t.due_date) WHERE t.status = 'open'"):
            found.setdefault(row["task_id"], set()).add(row["level"])
        return found

    def issue_notice(self, task, level, working_days, as_of):
        """The notice of one level for the task's clock, or None when another
        supervisor (or an earlier pass) already issued it. A supervision
        notice (`red`) is numbered and starts at level 1."""
        row = self.one(
            "INSERT INTO supervision_notices (task_id, clock, level, notice_no, application_no, department, "
            "due_date, working_days, as_of) VALUES (%s, %s, %s, "
            "CASE WHEN %s::text = 'red' THEN 'DB-' || to_char(%s::date, 'YYYY') || '-' "
            "     || lpad(nextval('supervision_notice_seq')::text, 6, '0') END, "
            "%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING *",
            (task["task_id"], task["clock"], level, level, as_of, task["application_no"], task["department"],
             task["due_date"], working_days, as_of),
        )
        if row is not None and level == "red":
            self.raise_notice(row["notice_no"], 1, as_of, {"name": task["department_name"],
                                                           "phone": task["supervisor_phone"]})
        return row

    def raise_notice(self, notice_no, level, as_of, recipient):
        """True when this call issued the level (each level once)."""
        return self.one(
            "INSERT INTO notice_levels (notice_no, level, as_of, recipient) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING RETURNING notice_no", (notice_no, level, as_of, jsonb(recipient))) is not None

    NOTICE_SELECT = (
        "SELECT n.notice_no, n.task_id, n.clock, n.application_no, n.department, t.department_name, a.item_name, "
        "n.due_date, n.working_days, n.as_of, n.issued_at, n.answer, n.answered_at, n.answered_by, n.answer_ref, "
        "t.status AS task_status, t.supervisor_phone, "
        "(SELECT max(level) FROM notice_levels l WHERE l.notice_no = n.notice_no) AS level, "
        "(SELECT as_of FROM notice_levels l WHERE l.notice_no = n.notice_no ORDER BY level DESC LIMIT 1) "
        "  AS level_as_of, "
        "(SELECT coalesce(jsonb_agg(jsonb_build_object('level', level, 'as_of', as_of, 'recipient', recipient, "
        "  'issued_at', issued_at) ORDER BY level), '[]'::jsonb) FROM notice_levels l "
        "  WHERE l.notice_no = n.notice_no) AS levels "
        "FROM supervision_notices n JOIN tasks t USING (task_id) JOIN applications a "
        "ON a.application_no = n.application_no WHERE n.level = 'red' "
    )

    def notices(self, status=None):
        """Every supervision notice (督办), newest first; `open` ones are unanswered."""
        return self.all(
            self.NOTICE_SELECT + "AND (%s::text IS NULL OR (n.answered_at IS NULL) = (%s = 'open')) "
            "ORDER BY n.issued_at DESC, n.notice_no DESC", (status, status))

    def notice(self, notice_no, lock=False):
        row = self.one(self.NOTICE_SELECT + "AND n.notice_no = %s", (notice_no,))
        if row is not None and lock:
            self.execute("SELECT 1 FROM supervision_notices WHERE notice_no = %s FOR UPDATE", (notice_no,))
            row = self.one(self.NOTICE_SELECT + "AND n.notice_no = %s", (notice_no,))
        return row

    def notice_by_answer_ref(self, answer_ref):
        return self.one(self.NOTICE_SELECT + "AND n.answer_ref = %s", (answer_ref,))

    def escalating_notices(self, application_no=None):
        """Unanswered notices of open tasks on the clock they were issued for."""
        return self.all(
            self.NOTICE_SELECT + "AND n.answered_at IS NULL AND t.status = 'open' AND t.clock = n.clock "
            "AND a.status = 'in_review' AND (%s::text IS NULL OR n.application_no = %s) ORDER BY n.notice_no",
            (application_no, application_no))

    def answer_notice(self, notice_no, answer, answered_by, answer_ref):
        self.execute(
            "UPDATE supervision_notices SET answer = %s, answered_at = now(), answered_by = %s, answer_ref = %s "
            "WHERE notice_no = %s AND answered_at IS NULL", (answer, answered_by, answer_ref, notice_no))

    def supervision_contacts(self):
        """{level: {name, phone}} for levels 2 and 3."""
        return {r["level"]: {"name": r["name"], "phone": r["phone"]}
                for r in self.all("SELECT level, name, phone FROM supervision_contacts ORDER BY level")}

    def set_supervision_contact(self, level, name, phone):
        self.execute(
            "INSERT INTO supervision_contacts (level, name, phone) VALUES (%s, %s, %s) ON CONFLICT (level) "
            "DO UPDATE SET name = EXCLUDED.name, phone = EXCLUDED.phone, updated_at = now()", (level, name, phone))

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

    def unanswered_notice_counts(self):
        """Per department and current level: supervision notices nobody has answered."""
        return self.all(
            "SELECT n.department, l.level, count(*) AS unanswered FROM supervision_notices n "
            "JOIN LATERAL (SELECT max(level) AS level FROM notice_levels WHERE notice_no = n.notice_no) l ON true "
            "WHERE n.level = 'red' AND n.answered_at IS NULL GROUP BY n.department, l.level")

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
              before=None, after=None, detail=None, by=None):
        """`actor`: the reviewer, department or step acting; `by`: the calling
        principal behind it, where a call made the change."""
        self.execute(
            "INSERT INTO history (application_no, task_id, department, actor, acting_for, action, before, after, "
            "detail, by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (application_no, task_id, department, actor, acting_for, action,
             jsonb(before) if before is not None else None, jsonb(after) if after is not None else None,
             jsonb(detail or {}), by),
        )

    def history_of(self, application_no):
        return self.all(
            "SELECT at, actor, acting_for, action, task_id, department, before, after, detail, by FROM history "
            "WHERE application_no = %s ORDER BY id",
            (application_no,),
        )
