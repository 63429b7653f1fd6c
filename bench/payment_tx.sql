-- pgbench script: the database work of one payment, without the application.
-- Variables from pgbench -D: accounts (rows in bench_accounts), state_bytes (size of the
-- event's state; a PaymentCreated is ~650 bytes) and locked (1: take the EXCLUSIVE lock
-- that eventsourcing takes before every insert into its events table).
-- No colons in literals: pgbench reads ":name" as a variable.
\set aid random(1, :accounts)
\set amount random(1, 100000)
BEGIN;
\if :locked
LOCK TABLE bench_events IN EXCLUSIVE MODE;
\endif
UPDATE bench_accounts SET balance = balance + :amount WHERE id = :aid;
INSERT INTO bench_events (originator_id, originator_version, topic, state)
    VALUES (gen_random_uuid(), 1, 'paysource.domain.payment.Payment.Created',
            convert_to(repeat('x', :state_bytes), 'UTF8'));
END;
