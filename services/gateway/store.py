"""The gateway's SQL: tokens, webhooks and their deliveries."""
import uuid

from onewindow.db import Jsonb, Store
from onewindow.retention import delete_in_batches


class GatewayStore(Store):
    def purge(self, older_than):
        """Retention (onewindow.retention): a webhook delivery the department
        acknowledged before the cut-off goes; dead ones stay for an operator."""
        return {"deliveries": delete_in_batches(self.unit, "deliveries", "status = 'delivered' AND delivered_at < %s",
                                                (older_than,))}

    # ------------------------------------------------------------ tokens
    def add_token(self, principal, token_hash):
        self.execute("INSERT INTO tokens (token_hash, principal) VALUES (%s, %s)", (token_hash, principal))

    def principal_of(self, token_hash):
        row = self.one("SELECT principal FROM tokens WHERE token_hash = %s AND revoked_at IS NULL", (token_hash,))
        return row["principal"] if row else None

    def revoke_tokens(self, principal):
        return self.execute("UPDATE tokens SET revoked_at = now() WHERE principal = %s AND revoked_at IS NULL",
                            (principal,)).rowcount

    def tokens(self):
        return self.all("SELECT principal, count(*) FILTER (WHERE revoked_at IS NULL) AS active, "
                        "count(*) FILTER (WHERE revoked_at IS NOT NULL) AS revoked, max(created_at) AS last_issued "
                        "FROM tokens GROUP BY principal ORDER BY principal")

    # ------------------------------------------------------------ webhooks
    def set_webhook(self, department, url, secret):
        return self.one(
            "INSERT INTO webhooks (department, url, secret) VALUES (%s, %s, %s) "
            "ON CONFLICT (department) DO UPDATE SET url = excluded.url, secret = excluded.secret, updated_at = now() "
            "RETURNING department, url, created_at, updated_at", (department, url, secret))

    def remove_webhook(self, department):
        return self.execute("DELETE FROM webhooks WHERE department = %s", (department,)).rowcount

    def webhooks(self):
        return self.all("SELECT department, url, created_at, updated_at FROM webhooks ORDER BY department")

    def has_webhook(self, department):
        return self.one("SELECT 1 AS yes FROM webhooks WHERE department = %s", (department,)) is not None

    # ------------------------------------------------------------ deliveries
    def owe(self, department, event_id, event_type, payload):
        """Record a delivery once per (department, event); False if it was owed already."""
        row = self.one(
            "INSERT INTO deliveries (delivery_id, department, event_id, event_type, payload) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (department, event_id) DO NOTHING RETURNING delivery_id",
            (uuid.uuid4(), department, event_id, event_type, Jsonb(payload)))
        return row is not None

    def claim_due(self, limit, lease_seconds):
        """Due deliveries with their webhook, leased so that no replica takes them too."""
        return self.all(
            "WITH due AS (SELECT delivery_id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= now() "
            "             ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED) "
            "UPDATE deliveries d SET attempts = d.attempts + 1, "
            "       next_attempt_at = now() + make_interval(secs => %s) "
            "FROM due, webhooks w WHERE d.delivery_id = due.delivery_id AND w.department = d.department "
            "RETURNING d.delivery_id, d.department, d.event_type, d.payload, d.attempts, w.url, w.secret",
            (limit, lease_seconds))

    def delivered(self, delivery_id):
        self.execute("UPDATE deliveries SET status = 'delivered', delivered_at = now(), last_error = NULL "
                     "WHERE delivery_id = %s", (delivery_id,))

    def retry_later(self, delivery_id, delay_seconds, error):
        self.execute("UPDATE deliveries SET next_attempt_at = now() + make_interval(secs => %s), last_error = %s "
                     "WHERE delivery_id = %s", (delay_seconds, error, delivery_id))

    def dead(self, delivery_id, error):
        self.execute("UPDATE deliveries SET status = 'dead', last_error = %s WHERE delivery_id = %s",
                     (error, delivery_id))

    def deliveries(self, department=None, status=None, limit=200):
        return self.all(
            "SELECT delivery_id, department, event_id, event_type, status, attempts, last_error, created_at, "
            "delivered_at FROM deliveries WHERE (%(department)s::text IS NULL OR department = %(department)s) "
            "AND (%(status)s::text IS NULL OR status = %(status)s) ORDER BY created_at DESC LIMIT %(limit)s",
            {"department": department, "status": status, "limit": limit})

    def redeliver(self, department, delivery_id=None):
        """Dead letters back to pending, for another round of attempts."""
        return self.execute(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = now() "
            "WHERE status = 'dead' AND department = %s AND (%s::uuid IS NULL OR delivery_id = %s::uuid)",
            (department, delivery_id, delivery_id)).rowcount

    def backlog(self):
        return self.one("SELECT count(*) FILTER (WHERE status = 'pending') AS pending, "
                        "count(*) FILTER (WHERE status = 'dead') AS dead FROM deliveries")
