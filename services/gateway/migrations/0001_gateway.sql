-- Tokens of the HTTP gateway: only a hash is kept; a revoked token stays as a record.
CREATE TABLE tokens (
    token_hash  text PRIMARY KEY,
    principal   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX tokens_of_principal ON tokens (principal) WHERE revoked_at IS NULL;

-- One webhook per department system; the secret signs every delivery.
CREATE TABLE webhooks (
    department  text PRIMARY KEY,
    url         text NOT NULL,
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- What each webhook is owed: one row per (department, event), so an event is
-- delivered once; `dead` is the dead-letter list.
CREATE TABLE deliveries (
    delivery_id      uuid PRIMARY KEY,
    department       text NOT NULL,
    event_id         text NOT NULL,
    event_type       text NOT NULL,
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (department, event_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
