-- 撤回: a case withdrawn before conclusion stops being reviewed.
ALTER TABLE applications DROP CONSTRAINT IF EXISTS applications_status_check;
ALTER TABLE applications ADD CONSTRAINT applications_status_check
    CHECK (status IN ('in_review', 'approved', 'rejected', 'materials_requested', 'withdrawn'));
