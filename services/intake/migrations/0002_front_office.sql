-- The front office of the second release: 不予受理, 撤回, the window that took
-- a case, the day the centre's part ended, 首问 and 投诉.

ALTER TABLE applications
    ADD COLUMN window_code        text,     -- the window that took the case (选优评差 per window)
    ADD COLUMN decided_on         date,     -- the centre's part ended: review's outcome, or acceptance of an instant item
    ADD COLUMN refusal_no         text UNIQUE,
    ADD COLUMN refusal_reasons    jsonb,
    ADD COLUMN refusal_legal_basis text,
    ADD COLUMN withdrawn_on       date,
    ADD COLUMN withdrawal_reason  text;
CREATE INDEX applications_concluded_on ON applications (concluded_on);
CREATE INDEX applications_withdrawn_on ON applications (withdrawn_on) WHERE withdrawn_on IS NOT NULL;

-- Instant items were decided at acceptance.
UPDATE applications SET decided_on = accepted_on WHERE kind = 'instant' AND accepted_on IS NOT NULL;
UPDATE applications SET decided_on = concluded_on WHERE decided_on IS NULL AND concluded_on IS NOT NULL;

-- Gap-free numbers of refusals (不予受理), inquiries and complaints per year.
CREATE TABLE document_counters (
    kind        text NOT NULL,
    year        integer NOT NULL,
    last_value  integer NOT NULL,
    PRIMARY KEY (kind, year)
);

-- 首问负责: every consultation, who answered first and where it was referred.
CREATE TABLE inquiries (
    inquiry_no   text PRIMARY KEY,
    channel      text NOT NULL,
    topic        text NOT NULL,
    answered_by  text NOT NULL,
    window_code  text,
    item_code    text,
    phone        text,
    referred_to  text,
    asked_at     timestamptz NOT NULL DEFAULT now(),
    asked_on     date NOT NULL
);
CREATE INDEX inquiries_asked_on ON inquiries (asked_on);

-- 投诉: answered by the department concerned within a number of working days,
-- supervised like a review task (warned before, noticed after the due date).
CREATE TABLE complaints (
    complaint_no    text PRIMARY KEY,
    text            text NOT NULL,
    phone           text NOT NULL,
    application_no  text REFERENCES applications,
    department      text,
    window_code     text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    received_on     date NOT NULL,
    due_date        date NOT NULL,
    provisional     boolean NOT NULL DEFAULT false,
    warning_level   text NOT NULL DEFAULT 'none' CHECK (warning_level IN ('none', 'yellow', 'red')),
    warned_on       date,
    notice_no       text,
    noticed_on      date,
    answer          text,
    answered_at     timestamptz,
    answered_on     date
);
CREATE INDEX complaints_received_on ON complaints (received_on);
CREATE INDEX complaints_open ON complaints (due_date) WHERE answered_at IS NULL;
