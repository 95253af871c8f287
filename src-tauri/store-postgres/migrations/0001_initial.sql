-- The shared store's schema: the SQLite schema as it stands after its migrations 0001-0003
-- (src-tauri/core/src/store/migrations/), in PostgreSQL's types:
--   * amounts (decimal text in SQLite) are NUMERIC, read and written as rust_decimal; minor
--     units stay BIGINT;
--   * times (RFC 3339 text in SQLite) are timestamptz;
--   * INTEGER PRIMARY KEY row ids are BIGINT GENERATED ALWAYS AS IDENTITY;
--   * 0/1 flags are boolean; counts are integer (bigint for the running totals);
--   * SQLite's VIRTUAL generated columns are STORED (PostgreSQL before 18 has no virtual ones);
--   * COLLATE NOCASE becomes an index on lower(...): queries compare lower(email);
--   * the columns orders are sorted and paged by are COLLATE "C" (bytewise, as SQLite's
--     BINARY), so a page's order is the same whatever the database's locale;
--   * the audit row keeps who acted (user and machine), which SQLite's does not yet.
-- No extension is needed (PL/pgSQL, used by the triggers, is built in).

-- Orders: one row per payment job the app created or was told about. The gateway has no
-- list endpoint, so every reference seen is kept.
CREATE TABLE payment_jobs (
    job_ref               text COLLATE "C" PRIMARY KEY,
    order_number          text COLLATE "C",
    email                 text,
    status                text COLLATE "C" NOT NULL,
    amount                numeric,
    paid_amount           numeric,
    currency              text COLLATE "C",
    created_here          boolean NOT NULL DEFAULT false,
    -- What we asked for when the job was created here; the gateway must agree.
    expected_amount       numeric,
    expected_currency     text,
    expected_order_number text,
    payment_link          text,
    mismatch              text,
    gateway_created_at    timestamptz,
    gateway_updated_at    timestamptz,
    first_seen_at         timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    last_confirmed_at     timestamptz,
    shipped_at            timestamptz,
    shipping_note         text,
    -- The owner's note on a payment link created here.
    note                  text,
    -- The amount in integer minor units, written by Rust from the amount and currency.
    amount_minor          bigint,
    -- Attempts kept on the job (triggers below) instead of a count per row read.
    attempts              integer NOT NULL DEFAULT 0,
    -- Sort keys without NULLs, so a keyset cursor is one row-value comparison on one index.
    order_key             text COLLATE "C"
        GENERATED ALWAYS AS (coalesce(order_number, '')) STORED,
    currency_key          text COLLATE "C" GENERATED ALWAYS AS (coalesce(currency, '')) STORED,
    amount_key            bigint
        GENERATED ALWAYS AS (coalesce(amount_minor, '-9223372036854775808'::bigint)) STORED
);
CREATE INDEX payment_jobs_by_order_number ON payment_jobs (order_number);
CREATE INDEX payment_jobs_by_email ON payment_jobs (lower(email));
-- Keyset paging: one index per sort, each ending in job_ref so a cursor is exact.
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
-- The reconciler's question: unfinished jobs, least recently confirmed first (never
-- confirmed first, as SQLite sorts NULL).
CREATE INDEX payment_jobs_unfinished ON payment_jobs (last_confirmed_at NULLS FIRST)
    WHERE status NOT IN ('Paid', 'Verified', 'Cancelled', 'Failed', 'Declined', 'Rejected',
                         'Blocked', 'Expired');

-- Each shopper attempt is a payment inside the job.
CREATE TABLE payments (
    job_ref            text COLLATE "C" NOT NULL REFERENCES payment_jobs (job_ref),
    payment_ref        text NOT NULL,
    attempt            integer NOT NULL,
    status             text NOT NULL,
    amount             numeric,
    failure_code       text,
    failure_reason     text,
    gateway_created_at timestamptz,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (job_ref, payment_ref)
);
CREATE INDEX payments_by_payment_ref ON payments (payment_ref);

-- Raw gateway answers in side tables: the order rows every page reads stay narrow. Text,
-- not jsonb: the answer is kept exactly as the gateway sent it.
CREATE TABLE job_answers (
    job_ref text PRIMARY KEY,
    raw     text NOT NULL
);
CREATE TABLE payment_answers (
    job_ref     text NOT NULL,
    payment_ref text NOT NULL,
    raw         text NOT NULL,
    PRIMARY KEY (job_ref, payment_ref)
);

CREATE TABLE status_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_ref     text NOT NULL,
    payment_ref text,
    from_status text,
    to_status   text NOT NULL,
    source      text NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX status_events_by_job ON status_events (job_ref, id);

-- The inbox: every notification received, acknowledged or refused. A pending delivery
-- carries the run of failures it is in and when it is next due (domain::delivery).
CREATE TABLE deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at      timestamptz NOT NULL,
    remote_addr      text,
    forwarded_for    text,
    body             text,
    job_ref          text,
    payment_ref      text,
    parse_error      text,
    response_status  integer NOT NULL,
    state            text NOT NULL,
    confirm_attempts integer NOT NULL DEFAULT 0,
    last_error       text,
    outcome          text,
    settled_at       timestamptz,
    failure_class    text,
    failing_since    timestamptz,
    failing_attempts integer NOT NULL DEFAULT 0,
    retry_at         timestamptz,
    -- The claim queue (new here: several processes confirm deliveries from one inbox).
    -- A worker claims a pending delivery by setting both, and lets the lease lapse if it
    -- dies; a delivery is claimable when its lease is NULL or past.
    claimed_by       text NULL,
    lease_until      timestamptz NULL
);
-- Pending deliveries in order, with when each is due and leased carried in the index: the
-- claim query ("pending, due, not leased, oldest first", FOR UPDATE SKIP LOCKED) filters
-- on the index alone, and the pending set stays small whatever the size of the inbox.
CREATE INDEX deliveries_pending ON deliveries (id) INCLUDE (retry_at, lease_until)
    WHERE state = 'pending';
CREATE INDEX deliveries_by_job ON deliveries (job_ref, id);
CREATE INDEX deliveries_malformed ON deliveries (id) WHERE state = 'malformed';
-- What the owner must look at, counted without a scan of every delivery.
CREATE INDEX deliveries_dead ON deliveries (id) WHERE state = 'dead';
CREATE INDEX deliveries_unknown ON deliveries (id) WHERE state = 'unknown';

-- What the owner did.
CREATE TABLE audit (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL,
    action  text NOT NULL,
    job_ref text,
    detail  text,
    -- Who did it ("user@machine"), where known.
    actor   text
);
CREATE INDEX audit_by_job ON audit (job_ref, id);

-- Every reference an owner may type, to the job it names. kind: 1 job, 2 payment,
-- 3 order number, 4 e-mail (lower case). COLLATE "C": the searches are byte ranges
-- (ref >= prefix AND ref < next prefix), as under SQLite's binary collation; under a
-- language's collation such a range would not be "starts with", and the primary key's
-- index could not serve it. (No FTS or trigram table to translate: the SQLite store measured
-- this against FTS5 trigram and kept this; nothing here needs pg_trgm.)
CREATE TABLE refs (
    ref     text COLLATE "C" NOT NULL,
    job_ref text NOT NULL,
    kind    smallint NOT NULL,
    PRIMARY KEY (ref, job_ref, kind)
);
-- The same references written backwards: "the last digits" become a prefix.
CREATE TABLE ref_tails (
    rev     text COLLATE "C" NOT NULL,
    job_ref text NOT NULL,
    kind    smallint NOT NULL,
    PRIMARY KEY (rev, job_ref, kind)
);

-- Orders per status and shipped, kept by triggers in the writing transaction: a page shows
-- its total without counting rows. Concurrent writers of one (status, shipped) pair queue
-- on its row, briefly.
CREATE TABLE order_counts (
    status  text NOT NULL,
    shipped boolean NOT NULL,
    n       bigint NOT NULL,
    PRIMARY KEY (status, shipped)
);

CREATE FUNCTION order_counts_add(p_status text, p_shipped boolean) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO order_counts (status, shipped, n) VALUES (p_status, p_shipped, 1)
        ON CONFLICT (status, shipped) DO UPDATE SET n = order_counts.n + 1;
$$;

CREATE FUNCTION order_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM order_counts_add(new.status, new.shipped_at IS NOT NULL);
    RETURN NULL;
END $$;
CREATE TRIGGER order_counts_insert AFTER INSERT ON payment_jobs
    FOR EACH ROW EXECUTE FUNCTION order_counts_insert();

CREATE FUNCTION order_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE order_counts SET n = n - 1
        WHERE status = old.status AND shipped = (old.shipped_at IS NOT NULL);
    PERFORM order_counts_add(new.status, new.shipped_at IS NOT NULL);
    RETURN NULL;
END $$;
CREATE TRIGGER order_counts_update AFTER UPDATE OF status, shipped_at ON payment_jobs
    FOR EACH ROW
    WHEN (old.status IS DISTINCT FROM new.status
          OR (old.shipped_at IS NULL) IS DISTINCT FROM (new.shipped_at IS NULL))
    EXECUTE FUNCTION order_counts_update();

CREATE FUNCTION order_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE order_counts SET n = n - 1
        WHERE status = old.status AND shipped = (old.shipped_at IS NOT NULL);
    RETURN NULL;
END $$;
CREATE TRIGGER order_counts_delete AFTER DELETE ON payment_jobs
    FOR EACH ROW EXECUTE FUNCTION order_counts_delete();

CREATE FUNCTION attempts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE payment_jobs SET attempts = attempts + 1 WHERE job_ref = new.job_ref;
    RETURN NULL;
END $$;
CREATE TRIGGER attempts_insert AFTER INSERT ON payments
    FOR EACH ROW EXECUTE FUNCTION attempts_insert();

CREATE FUNCTION attempts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE payment_jobs SET attempts = attempts - 1 WHERE job_ref = old.job_ref;
    RETURN NULL;
END $$;
CREATE TRIGGER attempts_delete AFTER DELETE ON payments
    FOR EACH ROW EXECUTE FUNCTION attempts_delete();
