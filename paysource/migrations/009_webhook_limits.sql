-- Webhook delivery limits: one attempt in flight per endpoint and a few per merchant,
-- so a slow receiver holds one delivery lane at most; manual resends are queued for
-- the delivery lanes instead of being attempted inside the API request.
-- (paysource/application/webhook_queue.py has the claim query these serve.)

-- A resend asked for and not yet attempted: the delivery is due now, whatever its
-- status and per-object order.
ALTER TABLE webhook_deliveries ADD COLUMN resend_at timestamptz;

CREATE INDEX webhook_deliveries_resends
    ON webhook_deliveries (resend_at, seq) WHERE resend_at IS NOT NULL;

-- Leases taken: which endpoints and merchants have an attempt in flight. Few rows
-- (a lease is cleared when its attempt is recorded).
CREATE INDEX webhook_deliveries_leased
    ON webhook_deliveries (endpoint_id, merchant_id) WHERE locked_until IS NOT NULL;

-- An endpoint's next due delivery (the claim walks endpoints, not deliveries, so one
-- endpoint's backlog is not scanned again at every claim).
CREATE INDEX webhook_deliveries_endpoint_due
    ON webhook_deliveries (endpoint_id, next_attempt_at, seq) WHERE status = 'pending';

-- Replaced by webhook_deliveries_endpoint_due.
DROP INDEX webhook_deliveries_due;
