-- A shop's whole history (issue 10): every read the window and the pipeline make is an
-- index seek or a bounded range, whatever the number of orders.

-- Amounts as integer minor units, written by Rust from the decimal text (never via REAL).
ALTER TABLE payment_jobs ADD COLUMN amount_minor INTEGER;
-- Attempts kept on the job (triggers below) instead of a count per row read.
ALTER TABLE payment_jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
UPDATE payment_jobs SET attempts =
    (SELECT count(*) FROM payments p WHERE p.job_ref = payment_jobs.job_ref);

-- Sort keys without NULLs, so a keyset cursor is one row-value comparison on one index.
ALTER TABLE payment_jobs ADD COLUMN order_key TEXT
    GENERATED ALWAYS AS (coalesce(order_number, '')) VIRTUAL;
ALTER TABLE payment_jobs ADD COLUMN currency_key TEXT
    GENERATED ALWAYS AS (coalesce(currency, '')) VIRTUAL;
ALTER TABLE payment_jobs ADD COLUMN amount_key INTEGER
    GENERATED ALWAYS AS (coalesce(amount_minor, -9223372036854775808)) VIRTUAL;

-- Raw gateway answers in side tables: the order rows every page reads stay narrow.
CREATE TABLE job_answers (
    job_ref TEXT PRIMARY KEY NOT NULL,
    raw     TEXT NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO job_answers (job_ref, raw)
    SELECT job_ref, raw_last_answer FROM payment_jobs WHERE raw_last_answer IS NOT NULL;
ALTER TABLE payment_jobs DROP COLUMN raw_last_answer;

CREATE TABLE payment_answers (
    job_ref     TEXT NOT NULL,
    payment_ref TEXT NOT NULL,
    raw         TEXT NOT NULL,
    PRIMARY KEY (job_ref, payment_ref)
) STRICT, WITHOUT ROWID;
INSERT INTO payment_answers (job_ref, payment_ref, raw)
    SELECT job_ref, payment_ref, raw_last_answer FROM payments WHERE raw_last_answer IS NOT NULL;
ALTER TABLE payments DROP COLUMN raw_last_answer;

-- Every reference an owner may type, to the job it names (filled by the writer, see
-- store::refs). kind: 1 job, 2 payment, 3 order number, 4 e-mail (lower case).
CREATE TABLE refs (
    ref     TEXT NOT NULL,
    job_ref TEXT NOT NULL,
    kind    INTEGER NOT NULL,
    PRIMARY KEY (ref, job_ref, kind)
) STRICT, WITHOUT ROWID;
-- The same references written backwards: "the last digits" become a prefix.
CREATE TABLE ref_tails (
    rev     TEXT NOT NULL,
    job_ref TEXT NOT NULL,
    kind    INTEGER NOT NULL,
    PRIMARY KEY (rev, job_ref, kind)
) STRICT, WITHOUT ROWID;

-- Orders per status and shipped, kept by triggers in the writer's transaction: a page
-- shows its total without counting rows.
CREATE TABLE order_counts (
    status  TEXT NOT NULL,
    shipped INTEGER NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (status, shipped)
) STRICT, WITHOUT ROWID;
INSERT INTO order_counts (status, shipped, n)
    SELECT status, shipped_at IS NOT NULL, count(*) FROM payment_jobs
    GROUP BY status, shipped_at IS NOT NULL;

CREATE TRIGGER order_counts_insert AFTER INSERT ON payment_jobs BEGIN
    INSERT INTO order_counts (status, shipped, n)
        VALUES (new.status, new.shipped_at IS NOT NULL, 1)
        ON CONFLICT (status, shipped) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER order_counts_update AFTER UPDATE OF status, shipped_at ON payment_jobs
WHEN old.status IS NOT new.status
  OR (old.shipped_at IS NULL) IS NOT (new.shipped_at IS NULL)
BEGIN
    UPDATE order_counts SET n = n - 1
        WHERE status = old.status AND shipped = (old.shipped_at IS NOT NULL);
    INSERT INTO order_counts (status, shipped, n)
        VALUES (new.status, new.shipped_at IS NOT NULL, 1)
        ON CONFLICT (status, shipped) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER order_counts_delete AFTER DELETE ON payment_jobs BEGIN
    UPDATE order_counts SET n = n - 1
        WHERE status = old.status AND shipped = (old.shipped_at IS NOT NULL);
END;

CREATE TRIGGER attempts_insert AFTER INSERT ON payments BEGIN
    UPDATE payment_jobs SET attempts = attempts + 1 WHERE job_ref = new.job_ref;
END;
CREATE TRIGGER attempts_delete AFTER DELETE ON payments BEGIN
    UPDATE payment_jobs SET attempts = attempts - 1 WHERE job_ref = old.job_ref;
END;

-- Keyset paging: one index per sort, each ending in job_ref so a cursor is exact.
DROP INDEX payment_jobs_by_first_seen;
DROP INDEX payment_jobs_by_updated;
DROP INDEX payment_jobs_by_status;
CREATE INDEX payment_jobs_by_first_seen ON payment_jobs (first_seen_at, job_ref);
CREATE INDEX payment_jobs_by_updated ON payment_jobs (updated_at, job_ref);
CREATE INDEX payment_jobs_by_status ON payment_jobs (status, job_ref);
CREATE INDEX payment_jobs_by_order_key ON payment_jobs (order_key, job_ref);
CREATE INDEX payment_jobs_by_amount ON payment_jobs (currency_key, amount_key, job_ref);
-- A status filter on the default (first seen) sort: Failed, Pending, ...
CREATE INDEX payment_jobs_by_status_first_seen ON payment_jobs (status, first_seen_at, job_ref);
-- The owner's to-do list: paid, not shipped yet.
CREATE INDEX payment_jobs_to_ship ON payment_jobs (first_seen_at, job_ref)
    WHERE status = 'Paid' AND shipped_at IS NULL;
-- The reconciler's question: unfinished jobs, least recently confirmed first.
CREATE INDEX payment_jobs_unfinished ON payment_jobs (last_confirmed_at)
    WHERE status NOT IN ('Paid', 'Verified', 'Cancelled', 'Failed', 'Declined', 'Rejected',
                         'Blocked', 'Expired');
