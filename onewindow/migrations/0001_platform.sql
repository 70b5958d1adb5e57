-- Tables every service has: outbox, inbox, working-day calendar.
CREATE TABLE IF NOT EXISTS outbox (
    id              bigserial PRIMARY KEY,
    event_id        uuid NOT NULL UNIQUE,
    event_type      text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE IF NOT EXISTS inbox (
    consumer        text NOT NULL,
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL CHECK (status IN ('processing', 'done', 'retry', 'parked')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    received_at     timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX IF NOT EXISTS inbox_waiting ON inbox (next_attempt_at) WHERE status IN ('retry', 'parked');

-- Published State Council schedules beyond what chinese_calendar ships, and
-- corrections: a row says whether that day is a working day.
CREATE TABLE IF NOT EXISTS workday_overrides (
    day        date PRIMARY KEY,
    is_workday boolean NOT NULL,
    name       text NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS calendar_years (
    year      integer PRIMARY KEY,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    source    text NOT NULL DEFAULT ''
);
