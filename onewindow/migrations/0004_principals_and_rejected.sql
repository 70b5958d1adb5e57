-- Who may call (onewindow principal add|remove|list): every service reads
-- its own copy, so authorising a call needs no call to anyone.
CREATE TABLE IF NOT EXISTS principals (
    name          text PRIMARY KEY,
    role          text NOT NULL,
    department    text,
    registered_at timestamptz NOT NULL DEFAULT now()
);

-- Messages set aside because they could not be a call or an event at all
-- (no reply_to, not a JSON object, unknown content type, unknown method, no
-- event_id, a value PostgreSQL cannot store): onewindow rejected list.
-- The body is kept as escaped ASCII text, so whatever it held can be stored.
CREATE TABLE IF NOT EXISTS rejected_messages (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    kind         text NOT NULL CHECK (kind IN ('rpc', 'event')),
    queue        text NOT NULL,
    routing_key  text NOT NULL DEFAULT '',
    reason       text NOT NULL,
    answered     boolean NOT NULL DEFAULT false,
    properties   text NOT NULL DEFAULT '',
    body         text NOT NULL DEFAULT '',
    body_bytes   integer NOT NULL DEFAULT 0
);

-- Idempotency keys (their sha256), per method, bound to the principal that
-- first used the key and to the request it came with (onewindow/idempotency.py).
CREATE TABLE IF NOT EXISTS idempotency_keys (
    method       text NOT NULL,
    key          text NOT NULL,
    principal    text NOT NULL,
    fingerprint  text NOT NULL,
    result       jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (method, key)
);
