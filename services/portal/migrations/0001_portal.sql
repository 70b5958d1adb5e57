-- The portal keeps no case: only what a browser conversation needs, briefly.

-- The key that hashes session ids, codes, phones and rate-limit keys before
-- they are stored; made once, shared by every replica.
CREATE TABLE portal_keys (
    name        text PRIMARY KEY,
    key         bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A browser's session: found by the hash of its cookie; `data` holds what a
-- tracking conversation needs (the number and phone being tracked) until it ends.
CREATE TABLE sessions (
    session_hash  text PRIMARY KEY,
    csrf_token    text NOT NULL,
    data          jsonb NOT NULL DEFAULT '{}'::jsonb,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- One-time tracking codes: only their hash; spent after a few wrong tries.
CREATE TABLE tracking_codes (
    challenge_id    uuid PRIMARY KEY,
    session_hash    text NOT NULL,
    application_no  text NOT NULL,
    code_hash       text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tracking_codes_expiry ON tracking_codes (expires_at);

-- Fixed-window counters of the forms that send an SMS or check a code; the
-- bucket is a keyed hash (limit name and phone, number or address).
CREATE TABLE rate_hits (
    bucket        text NOT NULL,
    window_start  bigint NOT NULL,
    window_end    timestamptz NOT NULL,
    hits          integer NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_hits_end ON rate_hits (window_end);
