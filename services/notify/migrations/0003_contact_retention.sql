-- When the application concluded (completed, refused, withdrawn): retention
-- masks the contact's name and phone that long after, and not before, since
-- a case under review may need them for weeks.
ALTER TABLE contacts ADD COLUMN IF NOT EXISTS concluded_at timestamptz;
UPDATE contacts c SET concluded_at = m.at
  FROM (SELECT application_no, max(created_at) AS at FROM messages
        WHERE event_type IN ('application_completed', 'application_refused', 'application_withdrawn')
        GROUP BY application_no) m
 WHERE m.application_no = c.application_no AND c.concluded_at IS NULL;
CREATE INDEX IF NOT EXISTS contacts_concluded ON contacts (concluded_at) WHERE concluded_at IS NOT NULL;
