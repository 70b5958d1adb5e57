-- Exactly once as far as a provider can tell.
-- lease_token: the claim a sender holds; it renews its lease before each send
-- and skips a message whose lease another sender took over.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS lease_token uuid;
-- maybe_sent_by: a provider that may have taken the message (read timeout,
-- unreadable answer): it is asked again under the same out_id, never another.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS maybe_sent_by text;

-- A receipt that came before the send was recorded (the provider answered
-- the callback before our commit): kept, and applied when the send is recorded.
CREATE TABLE IF NOT EXISTS early_receipts (
    provider_message_id text PRIMARY KEY,
    status              text NOT NULL CHECK (status IN ('delivered', 'failed')),
    reason              text,
    received_at         timestamptz NOT NULL DEFAULT now()
);
