"""The portal's SQL: its hashing key, sessions, one-time codes and
rate-limit counters. Nothing here outlives a browser conversation."""
import secrets
import uuid

from onewindow.db import Jsonb, Store


class PortalStore(Store):
    def key(self):
        """The portal's hashing key, made by the first replica that asks."""
        self.execute("INSERT INTO portal_keys (name, key) VALUES ('hash', %s) ON CONFLICT (name) DO NOTHING",
                     (secrets.token_bytes(32),))
        return bytes(self.one("SELECT key FROM portal_keys WHERE name = 'hash'")["key"])

    # ------------------------------------------------------------ sessions
    def session(self, session_hash):
        return self.one("SELECT session_hash, csrf_token, data FROM sessions "
                        "WHERE session_hash = %s AND expires_at > now()", (session_hash,))

    def open_session(self, session_hash, csrf_token, minutes):
        return self.one("INSERT INTO sessions (session_hash, csrf_token, expires_at) "
                        "VALUES (%s, %s, now() + make_interval(mins => %s)) "
                        "RETURNING session_hash, csrf_token, data", (session_hash, csrf_token, minutes))

    def keep_session(self, session_hash, data, minutes):
        self.execute("UPDATE sessions SET data = %s, expires_at = now() + make_interval(mins => %s) "
                     "WHERE session_hash = %s", (Jsonb(data), minutes, session_hash))

    # ------------------------------------------------------------ tracking codes
    def add_code(self, session_hash, application_no, code_hash, minutes):
        challenge_id = uuid.uuid4()
        self.execute("INSERT INTO tracking_codes (challenge_id, session_hash, application_no, code_hash, expires_at) "
                     "VALUES (%s, %s, %s, %s, now() + make_interval(mins => %s))",
                     (challenge_id, session_hash, application_no, code_hash, minutes))
        return str(challenge_id)

    def code(self, challenge_id, session_hash):
        """The challenge, locked: two tries at once count as two."""
        return self.one("SELECT challenge_id, application_no, code_hash, attempts, expires_at, now() AS now "
                        "FROM tracking_codes WHERE challenge_id = %s AND session_hash = %s AND used_at IS NULL "
                        "FOR UPDATE", (challenge_id, session_hash))

    def code_tried(self, challenge_id):
        self.execute("UPDATE tracking_codes SET attempts = attempts + 1 WHERE challenge_id = %s", (challenge_id,))

    def code_used(self, challenge_id):
        self.execute("UPDATE tracking_codes SET used_at = now() WHERE challenge_id = %s", (challenge_id,))

    # ------------------------------------------------------------ rate limits
    def hit(self, bucket, window_start, seconds):
        """Count one try in the bucket's window; returns the count, this one included."""
        return self.one("INSERT INTO rate_hits (bucket, window_start, window_end, hits) "
                        "VALUES (%s, %s, to_timestamp(%s), 1) ON CONFLICT (bucket, window_start) "
                        "DO UPDATE SET hits = rate_hits.hits + 1 RETURNING hits",
                        (bucket, window_start, window_start + seconds))["hits"]

    def epoch(self):
        """The database's clock, shared by every replica, in seconds."""
        return float(self.one("SELECT extract(epoch FROM clock_timestamp()) AS now")["now"])

    # ------------------------------------------------------------ retention
    def purge(self, older_than):
        """Everything here is spent once expired; the outbox's codes within the hour."""
        return {
            "sessions": self.execute("DELETE FROM sessions WHERE expires_at < now()").rowcount,
            "tracking_codes": self.execute("DELETE FROM tracking_codes WHERE expires_at < now()").rowcount,
            "rate_hits": self.execute("DELETE FROM rate_hits WHERE window_end < now()").rowcount,
            "codes_sent": self.execute("DELETE FROM outbox WHERE event_type = 'tracking_code_requested' "
                                       "AND published_at < now() - interval '1 hour'").rowcount,
        }
