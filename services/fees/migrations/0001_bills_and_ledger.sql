-- fees: cases' fee lines, the one combined bill, payments, refunds, waivers,
-- and the double-entry journal (never updated or deleted).

-- What intake said a case costs, under the catalog version it was accepted on.
CREATE TABLE fee_cases (
    application_no    text PRIMARY KEY,
    item_code         text NOT NULL DEFAULT '',
    item_name         text NOT NULL DEFAULT '',
    catalog_version   text NOT NULL DEFAULT '',
    kind              text NOT NULL DEFAULT 'committed',
    free_registration boolean NOT NULL DEFAULT false,
    fees              jsonb NOT NULL DEFAULT '[]',
    lead_department   text,
    applicant         jsonb NOT NULL DEFAULT '{}',   -- name, name_masked, phone; never the ID number
    accepted_on       date,
    received_at       timestamptz NOT NULL DEFAULT now()
);

-- Gap-free document numbers per kind and year (bill B2026000123, receipt
-- R2026000045, refund F2026000002): the counter row is locked until commit.
CREATE TABLE document_counters (
    kind       text NOT NULL,
    year       integer NOT NULL,
    last_value integer NOT NULL,
    PRIMARY KEY (kind, year)
);

CREATE TABLE bills (
    bill_no        text PRIMARY KEY,
    application_no text NOT NULL UNIQUE REFERENCES fee_cases,
    item_code      text NOT NULL DEFAULT '',
    item_name      text NOT NULL DEFAULT '',
    total_fen      bigint NOT NULL CHECK (total_fen > 0),
    status         text NOT NULL DEFAULT 'unpaid' CHECK (status IN ('unpaid', 'paid', 'waived', 'refunded')),
    issued_at      timestamptz NOT NULL DEFAULT now(),
    paid_at        timestamptz,
    refunded_at    timestamptz,
    waived_at      timestamptz
);
CREATE INDEX bills_status ON bills (status);

CREATE TABLE bill_lines (
    bill_no          text NOT NULL REFERENCES bills,
    line_no          integer NOT NULL,
    fee_code         text NOT NULL,
    name             text NOT NULL,
    department       text NOT NULL,
    amount_fen       bigint NOT NULL CHECK (amount_fen > 0),
    treasury_account text NOT NULL,
    PRIMARY KEY (bill_no, line_no)
);

-- The journal: one entry per payment or refund of a bill, its postings balanced.
CREATE TABLE journal_entries (
    entry_id  bigserial PRIMARY KEY,
    kind      text NOT NULL CHECK (kind IN ('payment', 'refund')),
    bill_no   text NOT NULL REFERENCES bills,
    reference text NOT NULL,              -- payment_ref or refund_ref
    booked_at timestamptz NOT NULL,
    booked_on date NOT NULL,              -- the centre's local date, for totals
    memo      text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX journal_one_entry_per_bill_and_kind ON journal_entries (bill_no, kind);
CREATE INDEX journal_booked_on ON journal_entries (booked_on);

CREATE TABLE postings (
    posting_id bigserial PRIMARY KEY,
    entry_id   bigint NOT NULL REFERENCES journal_entries,
    account    text NOT NULL,
    debit_fen  bigint NOT NULL DEFAULT 0 CHECK (debit_fen >= 0),
    credit_fen bigint NOT NULL DEFAULT 0 CHECK (credit_fen >= 0),
    -- the bill line a treasury posting books (NULL on the clearing side)
    line_no    integer,
    fee_code   text,
    department text,
    CHECK ((debit_fen > 0) <> (credit_fen > 0))
);
CREATE INDEX postings_entry ON postings (entry_id);

CREATE TABLE payments (
    payment_ref text PRIMARY KEY,
    bill_no     text NOT NULL UNIQUE REFERENCES bills,   -- one payment settles a bill, once
    amount_fen  bigint NOT NULL CHECK (amount_fen > 0),
    method      text NOT NULL CHECK (method IN ('cash', 'pos', 'unionpay', 'online')),
    receipt_no  text NOT NULL UNIQUE,
    paid_at     timestamptz NOT NULL,
    entry_id    bigint NOT NULL UNIQUE REFERENCES journal_entries
);

CREATE TABLE refunds (
    refund_ref  text PRIMARY KEY,
    bill_no     text NOT NULL UNIQUE REFERENCES bills,
    amount_fen  bigint NOT NULL CHECK (amount_fen > 0),
    reason      text NOT NULL,
    refund_no   text NOT NULL UNIQUE,
    refunded_at timestamptz NOT NULL,
    entry_id    bigint NOT NULL UNIQUE REFERENCES journal_entries
);

CREATE TABLE waivers (
    waiver_ref text PRIMARY KEY,
    bill_no    text NOT NULL UNIQUE REFERENCES bills,
    department text NOT NULL,
    reason     text NOT NULL,
    amount_fen bigint NOT NULL,
    waived_at  timestamptz NOT NULL
);

-- Audit trail of every bill: issued, paid, refunded, waived, refused.
CREATE TABLE bill_history (
    id      bigserial PRIMARY KEY,
    bill_no text NOT NULL REFERENCES bills,
    action  text NOT NULL,
    actor   text NOT NULL DEFAULT '',
    detail  jsonb NOT NULL DEFAULT '{}',
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bill_history_bill ON bill_history (bill_no, id);

-- Money already booked is never changed: corrections are new entries.
CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % is not allowed; book a correcting entry',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_is_append_only();
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_is_append_only();
CREATE TRIGGER payments_append_only BEFORE UPDATE OR DELETE ON payments
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
CREATE TRIGGER refunds_append_only BEFORE UPDATE OR DELETE ON refunds
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
CREATE TRIGGER waivers_append_only BEFORE UPDATE OR DELETE ON waivers
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
CREATE TRIGGER bill_lines_append_only BEFORE UPDATE OR DELETE ON bill_lines
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();

-- Every entry balances when its transaction commits.
CREATE FUNCTION journal_entry_must_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    debits  bigint;
    credits bigint;
BEGIN
    SELECT coalesce(sum(debit_fen), 0), coalesce(sum(credit_fen), 0) INTO debits, credits
      FROM postings WHERE entry_id = NEW.entry_id;
    IF debits <> credits OR debits = 0 THEN
        RAISE EXCEPTION 'journal entry % is not balanced: debits % fen, credits % fen',
            NEW.entry_id, debits, credits USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER postings_balance AFTER INSERT ON postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_entry_must_balance();
