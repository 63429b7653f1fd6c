-- Read model "settlements": settleable items (captures, succeeded refunds, carried
-- debits) and the settlements that hold them; plus paid-out balances.

CREATE TABLE settlement_payments (
    id uuid PRIMARY KEY,
    merchant_id uuid NOT NULL,
    currency char(3) NOT NULL
);

-- Every item that is or was settleable. `settlement_id` is NULL while it waits for a
-- settlement (again, after a failed payout released it).
CREATE TABLE settleable_items (
    kind text NOT NULL CHECK (kind IN ('capture', 'refund', 'carried_forward')),
    ref_id uuid NOT NULL,
    merchant_id uuid NOT NULL,
    currency char(3) NOT NULL,
    payment_id uuid,
    amount_minor bigint NOT NULL,
    fee_minor bigint NOT NULL DEFAULT 0 CHECK (fee_minor >= 0),
    occurred_at timestamptz NOT NULL,
    settlement_id uuid,
    PRIMARY KEY (kind, ref_id)
);

CREATE INDEX settleable_items_waiting
    ON settleable_items (merchant_id, currency, occurred_at)
    WHERE settlement_id IS NULL;

CREATE TABLE settlements (
    id uuid PRIMARY KEY,
    merchant_id uuid NOT NULL,
    currency char(3) NOT NULL,
    cutoff timestamptz NOT NULL,
    status text NOT NULL,
    gross_minor bigint NOT NULL DEFAULT 0,
    refunds_minor bigint NOT NULL DEFAULT 0,
    fees_minor bigint NOT NULL DEFAULT 0,
    carried_in_minor bigint NOT NULL DEFAULT 0 CHECK (carried_in_minor <= 0),
    net_minor bigint NOT NULL DEFAULT 0,
    items_count integer NOT NULL DEFAULT 0,
    payout_reference text,
    failure_reason text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version integer NOT NULL,
    CHECK (net_minor = gross_minor - refunds_minor - fees_minor + carried_in_minor)
);

CREATE INDEX settlements_by_merchant ON settlements (merchant_id, created_at DESC, id DESC);
CREATE INDEX settlements_by_status ON settlements (status, created_at DESC, id DESC);

-- Paid out: what the payouts account received, per merchant and currency.
CREATE OR REPLACE VIEW merchant_balances AS
SELECT b.merchant_id,
       b.currency,
       b.credits_pending - b.debits_pending AS pending_minor,
       b.credits_posted - b.debits_posted AS available_minor,
       coalesce(p.credits_posted - p.debits_posted, 0) AS paid_out_minor
  FROM ledger_accounts b
  LEFT JOIN ledger_accounts p
    ON p.kind = 'payouts' AND p.merchant_id = b.merchant_id AND p.currency = b.currency
 WHERE b.kind = 'merchant_balance';

-- Payouts appear in the transaction history, pointing at their settlement.
ALTER TABLE transactions ADD COLUMN settlement_id uuid;
