-- intake owns the catalog versions and the case record (办件) of every
-- application, kept current by the events of review, fees and notify.

CREATE TABLE catalog_versions (
    version_no  serial PRIMARY KEY,
    label       text NOT NULL UNIQUE,          -- the data file's `version`
    checksum    text NOT NULL,
    document    jsonb NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now()
);

-- Items of each version, for SQL questions; the document is authoritative.
CREATE TABLE catalog_items (
    version_no           integer NOT NULL REFERENCES catalog_versions,
    code                 text NOT NULL,
    name                 text NOT NULL,
    kind                 text NOT NULL CHECK (kind IN ('instant', 'committed')),
    legal_limit_days     integer NOT NULL,
    committed_limit_days integer NOT NULL,
    departments          text[] NOT NULL,
    PRIMARY KEY (version_no, code)
);

-- One row per year: the sequence of application numbers, locked by the
-- transaction that takes a number, so numbers have no gaps.
CREATE TABLE application_counters (
    year      integer PRIMARY KEY,
    last_seq  integer NOT NULL
);

CREATE TABLE applications (
    application_no     text PRIMARY KEY,
    client_ref         text NOT NULL UNIQUE,
    item_code          text NOT NULL,
    item_name          text NOT NULL,
    catalog_version    integer NOT NULL REFERENCES catalog_versions,
    kind               text NOT NULL,
    channel            text NOT NULL,
    applicant          jsonb NOT NULL,          -- kind, name, id_number|uscc, phone
    applicant_phone    text NOT NULL,
    form               jsonb NOT NULL,
    materials          text[] NOT NULL,         -- everything handed in so far
    missing_materials  jsonb NOT NULL DEFAULT '[]',
    materials_stage    text,                    -- intake|review while materials are awaited
    status             text NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now(),
    received_on        date NOT NULL,
    accepted_on        date,                    -- null until complete (clock not started)
    clock_started_on   date,                    -- acceptance, or the last supplement in review
    due_date           date,
    provisional        boolean NOT NULL DEFAULT false,
    visits             integer NOT NULL DEFAULT 1,
    fee_lines          jsonb NOT NULL DEFAULT '[]',
    has_fees           boolean NOT NULL DEFAULT false,
    free_registration  boolean NOT NULL DEFAULT false,
    review_started     boolean NOT NULL DEFAULT false,
    review_outcome     text,
    rejections         jsonb NOT NULL DEFAULT '[]',
    bill               jsonb,
    bill_status        text,
    overdue            boolean NOT NULL DEFAULT false,
    outcome            text,
    concluded_on       date,
    receipt            jsonb,
    rating             integer CHECK (rating BETWEEN 1 AND 5),
    rating_comment     text,
    rated_at           timestamptz
);
CREATE INDEX applications_received_on ON applications (received_on);
CREATE INDEX applications_open ON applications (due_date) WHERE concluded_on IS NULL;

-- Each department's progress on a case, as review reports it.
CREATE TABLE case_departments (
    application_no  text NOT NULL REFERENCES applications,
    department      text NOT NULL,
    position        integer NOT NULL,           -- catalog order, lead first
    name            text NOT NULL,
    lead            boolean NOT NULL,
    limit_days      integer NOT NULL,
    timeout_policy  text NOT NULL,
    due_date        date,
    provisional     boolean NOT NULL DEFAULT false,
    task_id         text,
    status          text NOT NULL DEFAULT 'open',
    decision        text,
    opinion         text,
    legal_basis     text,
    reviewer        text,
    acting_for      text,
    warning_level   text NOT NULL DEFAULT 'none',
    decided_at      text,
    PRIMARY KEY (application_no, department)
);

CREATE TABLE case_history (
    id              bigserial PRIMARY KEY,
    application_no  text NOT NULL REFERENCES applications,
    at              timestamptz NOT NULL DEFAULT now(),
    source          text NOT NULL,              -- intake|review|fees|notify
    event_type      text NOT NULL,
    event_id        text,
    summary         text NOT NULL,
    detail          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX case_history_case ON case_history (application_no, id);

CREATE TABLE case_notices (
    message_id       text PRIMARY KEY,
    application_no   text NOT NULL REFERENCES applications,
    source_event_id  text,
    template         text,
    status           text NOT NULL,
    segments         integer,
    phone_masked     text,
    text             text,
    at               text
);
CREATE INDEX case_notices_case ON case_notices (application_no);

-- Money movements heard from fees, for the report (paid minus refunded).
CREATE TABLE fee_movements (
    event_id        text PRIMARY KEY,
    application_no  text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('paid', 'refunded', 'waived')),
    amount_fen      bigint NOT NULL,
    at              timestamptz NOT NULL
);
CREATE INDEX fee_movements_at ON fee_movements (at);

-- Idempotency keys of submit and supplement, with the first answer.
CREATE TABLE client_requests (
    operation       text NOT NULL,
    client_ref      text NOT NULL,
    application_no  text,
    result          jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (operation, client_ref)
);
