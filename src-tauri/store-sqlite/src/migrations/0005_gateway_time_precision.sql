-- Times are written with the gateway's own 7 fractional digits (100 ns), so that an
-- answer carrying exactly the time we hold compares as equal, not newer. Text that holds
-- 6 digits ("…56.934686Z") sorts after 7-digit text of the same microsecond
-- ("…56.9346860Z": 'Z' > '0'), and every range, cursor and "due" query compares the
-- text: so every time already stored gets its seventh digit, a 0, which is exact.
UPDATE payment_jobs SET gateway_created_at = substr(gateway_created_at, 1, 26) || '0Z'
 WHERE gateway_created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';
UPDATE payment_jobs SET gateway_updated_at = substr(gateway_updated_at, 1, 26) || '0Z'
 WHERE gateway_updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';
UPDATE payment_jobs SET first_seen_at = substr(first_seen_at, 1, 26) || '0Z'
 WHERE first_seen_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';
UPDATE payment_jobs SET updated_at = substr(updated_at, 1, 26) || '0Z'
 WHERE updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';
UPDATE payment_jobs SET last_confirmed_at = substr(last_confirmed_at, 1, 26) || '0Z'
 WHERE last_confirmed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';
UPDATE payment_jobs SET shipped_at = substr(shipped_at, 1, 26) || '0Z'
 WHERE shipped_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';
UPDATE payments SET gateway_created_at = substr(gateway_created_at, 1, 26) || '0Z'
 WHERE gateway_created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';
UPDATE payments SET updated_at = substr(updated_at, 1, 26) || '0Z'
 WHERE updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';
UPDATE status_events SET at = substr(at, 1, 26) || '0Z'
 WHERE at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';
UPDATE deliveries SET received_at = substr(received_at, 1, 26) || '0Z'
 WHERE received_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';
UPDATE deliveries SET settled_at = substr(settled_at, 1, 26) || '0Z'
 WHERE settled_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';
UPDATE deliveries SET failing_since = substr(failing_since, 1, 26) || '0Z'
 WHERE failing_since GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';
UPDATE deliveries SET retry_at = substr(retry_at, 1, 26) || '0Z'
 WHERE retry_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';
UPDATE deliveries SET lease_until = substr(lease_until, 1, 26) || '0Z'
 WHERE lease_until GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';
UPDATE audit SET at = substr(at, 1, 26) || '0Z'
 WHERE at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z';
