-- Review: one application under review, one task per department (并联审批).
CREATE TABLE IF NOT EXISTS applications (
    application_no text PRIMARY KEY,
    item_code      text NOT NULL DEFAULT '',
    item_name      text NOT NULL DEFAULT '',
    accepted_on    date,
    applicant      jsonb NOT NULL DEFAULT '{}'::jsonb,   -- name, name_masked, phone (never the ID number)
    fees           jsonb NOT NULL DEFAULT '[]'::jsonb,
    status         text NOT NULL DEFAULT 'in_review'
                   CHECK (status IN ('in_review', 'approved', 'rejected', 'materials_requested')),
    clock          integer NOT NULL DEFAULT 1,            -- +1 at every restart after 补正
    source_event_id text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz
);

CREATE TABLE IF NOT EXISTS tasks (
    task_id           text PRIMARY KEY,
    application_no    text NOT NULL REFERENCES applications (application_no),
    department        text NOT NULL,
    department_name   text NOT NULL DEFAULT '',
    lead              boolean NOT NULL DEFAULT false,
    status            text NOT NULL DEFAULT 'open'
                      CHECK (status IN ('open', 'approved', 'rejected', 'materials_requested',
                                        'deemed_approved', 'moot')),
    fields            jsonb NOT NULL DEFAULT '{}'::jsonb,
    limit_days        integer,
    started_on        date NOT NULL,
    due_date          date NOT NULL,
    provisional       boolean NOT NULL DEFAULT false,
    timeout_policy    text NOT NULL DEFAULT 'escalate' CHECK (timeout_policy IN ('escalate', 'deemed_approval')),
    supervisor_phone  text,
    clock             integer NOT NULL DEFAULT 1,
    warning_level     text NOT NULL DEFAULT 'none' CHECK (warning_level IN ('none', 'yellow', 'red')),
    decision          text,
    opinion           text,
    legal_basis       text,
    missing_materials jsonb,
    reviewer          text,
    acting_for        text,
    decided_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (application_no, department)
);
CREATE INDEX IF NOT EXISTS tasks_by_department ON tasks (department, status);
CREATE INDEX IF NOT EXISTS tasks_open ON tasks (due_date) WHERE status = 'open';

-- A/B posts (AB岗): until set_roster, taken from the first accepted case naming the department.
CREATE TABLE IF NOT EXISTS rosters (
    department      text PRIMARY KEY,
    department_name text NOT NULL DEFAULT '',
    primary_id      text NOT NULL,
    primary_name    text NOT NULL DEFAULT '',
    primary_phone   text,
    primary_absent  boolean NOT NULL DEFAULT false,
    backup_id       text,
    backup_name     text NOT NULL DEFAULT '',
    backup_phone    text,
    backup_absent   boolean NOT NULL DEFAULT false,
    source          text NOT NULL DEFAULT 'event' CHECK (source IN ('event', 'set_roster')),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Idempotency of decide: the first result per client_ref.
CREATE TABLE IF NOT EXISTS decisions (
    client_ref  text PRIMARY KEY,
    task_id     text NOT NULL REFERENCES tasks (task_id),
    decision    text NOT NULL,
    result      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Electronic supervision: each level at most once per task and clock, whatever
-- the number of supervisors running.
CREATE SEQUENCE IF NOT EXISTS supervision_notice_seq;
CREATE TABLE IF NOT EXISTS supervision_notices (
    task_id        text NOT NULL REFERENCES tasks (task_id),
    clock          integer NOT NULL,
    level          text NOT NULL CHECK (level IN ('yellow', 'red')),
    notice_no      text UNIQUE,
    application_no text NOT NULL,
    department     text NOT NULL,
    due_date       date NOT NULL,
    working_days   integer NOT NULL,   -- left (yellow) or overdue (red)
    as_of          date NOT NULL,
    issued_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, clock, level)
);

-- The audit trail: who did what when, before and after.
CREATE TABLE IF NOT EXISTS history (
    id             bigserial PRIMARY KEY,
    application_no text NOT NULL,
    task_id        text,
    department     text,
    actor          text NOT NULL,
    acting_for     text,
    action         text NOT NULL,
    before         jsonb,
    after          jsonb,
    detail         jsonb NOT NULL DEFAULT '{}'::jsonb,
    at             timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS history_by_application ON history (application_no, id);
