-- notify owns: who to text about an application, and every SMS it queued.

-- The applicant's contact per application, learnt from intake's events
-- (review and fees events carry only the application number).
CREATE TABLE IF NOT EXISTS contacts (
    application_no   text PRIMARY KEY,
    phone            text NOT NULL,
    name             text NOT NULL DEFAULT '',
    name_masked      text NOT NULL DEFAULT '',
    item_code        text NOT NULL DEFAULT '',
    item_name        text NOT NULL DEFAULT '',
    collect          text NOT NULL DEFAULT '',
    fees_total_fen   bigint NOT NULL DEFAULT 0,
    accepted         boolean NOT NULL DEFAULT false,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS messages (
    message_id          uuid PRIMARY KEY,
    event_id            text NOT NULL,
    event_type          text NOT NULL,
    template            text NOT NULL,
    template_code       text NOT NULL,
    recipient_role      text NOT NULL CHECK (recipient_role IN ('applicant', 'assignee', 'supervisor')),
    application_no      text,
    phone               text NOT NULL,
    params              jsonb NOT NULL DEFAULT '{}',
    text                text NOT NULL,
    segments            integer NOT NULL CHECK (segments >= 1),
    urgent              boolean NOT NULL DEFAULT false,
    status              text NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'failed')),
    attempts            integer NOT NULL DEFAULT 0,
    provider            text NOT NULL,
    provider_attempts   integer NOT NULL DEFAULT 0,
    provider_message_id text UNIQUE,
    not_before          timestamptz,
    held_reason         text CHECK (held_reason IN ('quiet_hours', 'daily_cap')),
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    lease_until         timestamptz,
    cap_day             date,
    last_error          text,
    failure_reason      text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    delivered_at        timestamptz,
    failed_at           timestamptz,
    -- at most one message per event, template and recipient: a redelivered
    -- event (or a second replica) cannot queue a second text
    UNIQUE (event_id, template, recipient_role)
);
CREATE INDEX IF NOT EXISTS messages_due ON messages (next_attempt_at) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS messages_sending ON messages (lease_until) WHERE status = 'sending';
CREATE INDEX IF NOT EXISTS messages_by_application ON messages (application_no, created_at);
CREATE INDEX IF NOT EXISTS messages_by_phone ON messages (phone, created_at);

-- Every hand-over to a provider, for the audit of a complaint ("I never got it").
CREATE TABLE IF NOT EXISTS message_attempts (
    id          bigserial PRIMARY KEY,
    message_id  uuid NOT NULL REFERENCES messages (message_id),
    attempt     integer NOT NULL,
    provider    text NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('sent', 'retry', 'failed')),
    error       text,
    seconds     double precision NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS message_attempts_by_message ON message_attempts (message_id);

-- Messages counted against each phone's daily cap (Asia/Shanghai days).
CREATE TABLE IF NOT EXISTS phone_day_counts (
    phone  text NOT NULL,
    day    date NOT NULL,
    sent   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (phone, day)
);
