-- Fees of the second release: each line's legal basis (收费依据), partial
-- reductions (减免) of single lines booked in the journal, bills cancelled when
-- the applicant withdraws (撤回), and reminders of unpaid bills.

ALTER TABLE bill_lines ADD COLUMN legal_basis text NOT NULL DEFAULT '';

ALTER TABLE bills DROP CONSTRAINT bills_status_check;
ALTER TABLE bills ADD CONSTRAINT bills_status_check
    CHECK (status IN ('unpaid', 'paid', 'waived', 'refunded', 'cancelled'));
ALTER TABLE bills
    ADD COLUMN gross_fen    bigint,          -- the total as issued; total_fen is what is due after reductions
    ADD COLUMN cancelled_at timestamptz,
    ADD COLUMN reminded_at  timestamptz;
UPDATE bills SET gross_fen = total_fen;
ALTER TABLE bills ALTER COLUMN gross_fen SET NOT NULL;

ALTER TABLE fee_cases ADD COLUMN withdrawn_on date;

-- A reduction is a journal entry too; a bill may have several, one payment
-- and one refund.
ALTER TABLE journal_entries DROP CONSTRAINT journal_entries_kind_check;
ALTER TABLE journal_entries ADD CONSTRAINT journal_entries_kind_check
    CHECK (kind IN ('payment', 'refund', 'reduction'));
DROP INDEX journal_one_entry_per_bill_and_kind;
CREATE UNIQUE INDEX journal_one_settlement_per_bill_and_kind ON journal_entries (bill_no, kind)
    WHERE kind IN ('payment', 'refund');

-- 减免 of single lines by the department owning them, each with its basis.
CREATE TABLE reductions (
    reduction_ref text PRIMARY KEY,
    bill_no       text NOT NULL REFERENCES bills,
    department    text NOT NULL,
    amount_fen    bigint NOT NULL CHECK (amount_fen > 0),
    reduced_at    timestamptz NOT NULL,
    entry_id      bigint NOT NULL UNIQUE REFERENCES journal_entries
);
CREATE INDEX reductions_bill ON reductions (bill_no);

CREATE TABLE line_reductions (
    reduction_ref text NOT NULL REFERENCES reductions,
    bill_no       text NOT NULL,
    line_no       integer NOT NULL,
    amount_fen    bigint NOT NULL CHECK (amount_fen > 0),
    legal_basis   text NOT NULL,
    PRIMARY KEY (reduction_ref, line_no),
    FOREIGN KEY (bill_no, line_no) REFERENCES bill_lines
);
CREATE INDEX line_reductions_bill ON line_reductions (bill_no, line_no);

CREATE TRIGGER reductions_append_only BEFORE UPDATE OR DELETE ON reductions
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
CREATE TRIGGER line_reductions_append_only BEFORE UPDATE OR DELETE ON line_reductions
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();

CREATE INDEX bills_unpaid_issued ON bills (issued_at) WHERE status = 'unpaid' AND reminded_at IS NULL;
