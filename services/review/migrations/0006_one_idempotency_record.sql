-- Review's own record of decisions' client_ref keys repeated the platform's
-- idempotency_keys, which every decide goes through first (and which also
-- checks the caller and the request): one record of a key is enough.
DROP TABLE IF EXISTS decisions;
