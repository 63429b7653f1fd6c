-- Read model "transactions": one row per money movement, per merchant and customer,
-- keyset-paginated by (occurred_at, id).

CREATE TABLE transaction_payments (
    id uuid PRIMARY KEY,
    merchant_id uuid NOT NULL,
    customer_id uuid,
    currency char(3) NOT NULL,
    amount_minor bigint NOT NULL
);

CREATE TABLE transactions (
    id uuid PRIMARY KEY,
    merchant_id uuid NOT NULL,
    customer_id uuid,
    payment_id uuid,
    refund_id uuid,
    kind text NOT NULL,
    status text NOT NULL,
    amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
    fee_minor bigint NOT NULL DEFAULT 0 CHECK (fee_minor >= 0),
    currency char(3) NOT NULL,
    occurred_at timestamptz NOT NULL
);

CREATE INDEX transactions_by_merchant ON transactions (merchant_id, occurred_at DESC, id DESC);
CREATE INDEX transactions_by_customer
    ON transactions (merchant_id, customer_id, occurred_at DESC, id DESC)
    WHERE customer_id IS NOT NULL;
CREATE INDEX transactions_by_payment ON transactions (payment_id);
