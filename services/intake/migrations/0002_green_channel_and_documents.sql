-- 绿色通道 marked at submit (with its reason), and the licences or
-- certificates the approval issued (出证), as review reports them.
ALTER TABLE applications
    ADD COLUMN IF NOT EXISTS green_channel jsonb,
    ADD COLUMN IF NOT EXISTS documents jsonb NOT NULL DEFAULT '[]'::jsonb;
