-- Money that moved after a payment: captures and refunds as the gateway lists them on
-- each payment, and the owner's requests to refund, capture or cancel, recorded before
-- they are sent (a lost answer is then matched by its number, never sent twice).
CREATE TABLE money_moves (
    id             INTEGER PRIMARY KEY,
    job_ref        TEXT NOT NULL REFERENCES payment_jobs (job_ref),
    payment_ref    TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('capture', 'refund', 'cancel')),
    -- The gateway's reference of the move, once it gave one.
    reference      TEXT,
    -- The refundNumber (or the number an owner's capture or cancel was recorded under).
    refund_number  TEXT,
    amount         TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('Pending', 'Completed', 'Failed')),
    -- The gateway's time of the move.
    created_at     TEXT,
    failure        TEXT,
    -- Who asked (user@machine); NULL when learnt from the gateway.
    by             TEXT,
    source         TEXT NOT NULL,
    first_seen_at  TEXT NOT NULL,
    updated_at     TEXT NOT NULL
) STRICT;
CREATE INDEX money_moves_by_job ON money_moves (job_ref, id);
CREATE UNIQUE INDEX money_moves_number ON money_moves (job_ref, refund_number);

-- What each payment took, kept apart from what it was asked (`amount`).
ALTER TABLE payments ADD COLUMN paid_amount TEXT;

-- The order's money as every list reads it, written after each change to its payments or
-- moves (the core adds them up: decimal text is never summed in SQL). Orders paid before
-- this version start from what the job took.
ALTER TABLE payment_jobs ADD COLUMN paid_total TEXT;
ALTER TABLE payment_jobs ADD COLUMN refunded_total TEXT NOT NULL DEFAULT '0';
ALTER TABLE payment_jobs ADD COLUMN refund_pending_total TEXT NOT NULL DEFAULT '0';
ALTER TABLE payment_jobs ADD COLUMN capture_by TEXT;
UPDATE payment_jobs SET paid_total = CASE WHEN status IN ('Paid', 'Verified')
    THEN coalesce(paid_amount, amount) ELSE '0' END;
