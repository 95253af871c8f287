-- Orders: one row per payment job the app created or was told about. The gateway has no
-- list endpoint, so every reference seen is kept.
CREATE TABLE payment_jobs (
    job_ref             TEXT PRIMARY KEY NOT NULL,
    order_number        TEXT,
    email               TEXT,
    status              TEXT NOT NULL,
    amount              TEXT,
    paid_amount         TEXT,
    currency            TEXT,
    created_here        INTEGER NOT NULL DEFAULT 0,
    -- What we asked for when the job was created here; the gateway must agree.
    expected_amount     TEXT,
    expected_currency   TEXT,
    expected_order_number TEXT,
    payment_link        TEXT,
    mismatch            TEXT,
    gateway_created_at  TEXT,
    gateway_updated_at  TEXT,
    first_seen_at       TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    last_confirmed_at   TEXT,
    shipped_at          TEXT,
    shipping_note       TEXT,
    -- The owner's note on a payment link created here.
    note                TEXT,
    raw_last_answer     TEXT
) STRICT;
CREATE INDEX payment_jobs_by_order_number ON payment_jobs (order_number);
CREATE INDEX payment_jobs_by_email ON payment_jobs (email COLLATE NOCASE);
CREATE INDEX payment_jobs_by_status ON payment_jobs (status);
CREATE INDEX payment_jobs_by_first_seen ON payment_jobs (first_seen_at);
CREATE INDEX payment_jobs_by_updated ON payment_jobs (updated_at);

-- Each shopper attempt is a payment inside the job.
CREATE TABLE payments (
    job_ref             TEXT NOT NULL REFERENCES payment_jobs (job_ref),
    payment_ref         TEXT NOT NULL,
    attempt             INTEGER NOT NULL,
    status              TEXT NOT NULL,
    amount              TEXT,
    failure_code        TEXT,
    failure_reason      TEXT,
    gateway_created_at  TEXT,
    updated_at          TEXT NOT NULL,
    raw_last_answer     TEXT,
    PRIMARY KEY (job_ref, payment_ref)
) STRICT;
CREATE INDEX payments_by_payment_ref ON payments (payment_ref);

CREATE TABLE status_events (
    id           INTEGER PRIMARY KEY,
    job_ref      TEXT NOT NULL,
    payment_ref  TEXT,
    from_status  TEXT,
    to_status    TEXT NOT NULL,
    source       TEXT NOT NULL,
    at           TEXT NOT NULL
) STRICT;
CREATE INDEX status_events_by_job ON status_events (job_ref, id);

-- The inbox: every notification received, acknowledged or refused.
CREATE TABLE deliveries (
    id                INTEGER PRIMARY KEY,
    received_at       TEXT NOT NULL,
    remote_addr       TEXT,
    forwarded_for     TEXT,
    body              TEXT,
    job_ref           TEXT,
    payment_ref       TEXT,
    parse_error       TEXT,
    response_status   INTEGER NOT NULL,
    state             TEXT NOT NULL,
    confirm_attempts  INTEGER NOT NULL DEFAULT 0,
    last_error        TEXT,
    outcome           TEXT,
    settled_at        TEXT
) STRICT;
CREATE INDEX deliveries_pending ON deliveries (id) WHERE state = 'pending';
CREATE INDEX deliveries_by_job ON deliveries (job_ref, id);
CREATE INDEX deliveries_malformed ON deliveries (id) WHERE state = 'malformed';

-- What the owner did.
CREATE TABLE audit (
    id       INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    action   TEXT NOT NULL,
    job_ref  TEXT,
    detail   TEXT
) STRICT;
CREATE INDEX audit_by_job ON audit (job_ref, id);
