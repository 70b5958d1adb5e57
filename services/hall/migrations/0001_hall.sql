-- hall: tickets of every day, appointments, home and agent visits, and the
-- idempotency keys of every change. Queues and windows are the layout file's.

-- Each day's ticket numbers per queue (A001 ...): the counter row stays locked
-- until commit, so two kiosks never print the same number.
CREATE TABLE ticket_counters (
    service_day date NOT NULL,
    queue_code  text NOT NULL,
    last_value  integer NOT NULL,
    PRIMARY KEY (service_day, queue_code)
);

-- What happened to a ticket; its status is derived from these facts
-- (domain.ticket_status), never stored.
CREATE TABLE tickets (
    service_day      date NOT NULL,
    ticket_no        text NOT NULL,
    queue_code       text NOT NULL,          -- the queue it waits in now (a transfer changes it)
    seq              integer NOT NULL,
    channel          text NOT NULL CHECK (channel IN ('kiosk', 'remote', 'appointment')),
    phone            text,
    appointment_no   text,
    due_at           timestamptz,            -- an appointment's slot start: called first from then on
    green_channel    text,                   -- 绿色通道: the reason, when it has one
    taken_at         timestamptz NOT NULL,
    checked_in_at    timestamptz,            -- a remote holder arrived in the hall
    first_called_at  timestamptz,            -- the end of the wait, kept through transfers
    called_at        timestamptz,            -- called in its current queue (NULL while it waits)
    last_called_at   timestamptz,
    calls            integer NOT NULL DEFAULT 0,
    window_code      text,                   -- the window that called it
    near_told_at     timestamptz,            -- the "three ahead" SMS was asked for
    transferred_from text,
    outcome          text CHECK (outcome IN ('served', 'no_show')),
    finished_at      timestamptz,
    application_no   text,                   -- what the window submitted for this ticket
    PRIMARY KEY (service_day, ticket_no)
);
CREATE INDEX tickets_waiting ON tickets (service_day, queue_code, taken_at)
    WHERE called_at IS NULL AND outcome IS NULL;
CREATE INDEX tickets_at_window ON tickets (service_day, window_code) WHERE outcome IS NULL;
CREATE INDEX tickets_served ON tickets (queue_code, finished_at) WHERE outcome = 'served';
CREATE UNIQUE INDEX tickets_one_per_appointment ON tickets (appointment_no) WHERE appointment_no IS NOT NULL;

CREATE TABLE ticket_history (
    id          bigserial PRIMARY KEY,
    service_day date NOT NULL,
    ticket_no   text NOT NULL,
    action      text NOT NULL,
    window_code text,
    actor       text NOT NULL DEFAULT '',
    detail      jsonb NOT NULL DEFAULT '{}',
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_history_ticket ON ticket_history (service_day, ticket_no);

-- Gap-free yearly numbers of appointments (Y2026000001) and visits (V2026000001).
CREATE TABLE document_counters (
    kind       text NOT NULL,
    year       integer NOT NULL,
    last_value integer NOT NULL,
    PRIMARY KEY (kind, year)
);

-- One row per item, day and slot, locked while a booking counts the others:
-- two bookings at once never both take the last place.
CREATE TABLE appointment_slots (
    item_code text NOT NULL,
    day       date NOT NULL,
    slot      text NOT NULL,
    PRIMARY KEY (item_code, day, slot)
);

CREATE TABLE appointments (
    appointment_no text PRIMARY KEY,
    item_code      text NOT NULL,
    queue_code     text NOT NULL,
    day            date NOT NULL,
    slot           text NOT NULL,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    phone          text NOT NULL,
    booked_at      timestamptz NOT NULL DEFAULT now(),
    cancelled_at   timestamptz,
    ticket_no      text,                     -- the ticket taken when the applicant arrived
    reminded_at    timestamptz,
    missed_at      timestamptz               -- the slot ended with no ticket: a no-show
);
CREATE INDEX appointments_slot ON appointments (item_code, day, slot) WHERE cancelled_at IS NULL;
CREATE INDEX appointments_open ON appointments (day) WHERE cancelled_at IS NULL AND ticket_no IS NULL;

CREATE TABLE visits (
    visit_no       text PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('home', 'agent')),
    item_code      text NOT NULL,
    phone          text NOT NULL,
    address        text NOT NULL,
    preferred_date date NOT NULL,
    requested_at   timestamptz NOT NULL DEFAULT now(),
    assigned_to    text,
    scheduled_date date,
    assigned_at    timestamptz,
    completed_at   timestamptz,
    application_no text,
    history        jsonb NOT NULL DEFAULT '[]'
);

-- Idempotency: the first call with a key is claimed in its own transaction;
-- a repeat with the same arguments gets the first result.
CREATE TABLE requests (
    method     text NOT NULL,
    client_ref text NOT NULL,
    arguments  jsonb NOT NULL,
    result     jsonb,
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (method, client_ref)
);
