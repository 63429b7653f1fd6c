-- Recorded decisions (a capture, a void) the acquirer refused to carry out
-- (Payment.RelayFailed): money may not have moved as recorded, so people must see them.
-- Existing rows take the default; `paysource projections rebuild payments` fills them
-- from history when any payment already had such an event.

ALTER TABLE payments ADD COLUMN relay_failures text[] NOT NULL DEFAULT '{}';

CREATE INDEX payments_relay_failed ON payments (merchant_id, created_at DESC, id DESC)
    WHERE relay_failures <> '{}';
