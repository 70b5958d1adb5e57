-- The hall's own record of client_ref keys repeated the platform's
-- idempotency_keys, which every RPC change goes through first (and which also
-- checks the caller and the request); the remote ticket form, the one change
-- not made over RPC, now claims its key there too.
DROP TABLE IF EXISTS requests;
