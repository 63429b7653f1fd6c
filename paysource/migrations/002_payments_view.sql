-- Read models of payments and refunds (projection "payments").
--
-- Rebuildable from the event store at any time; never written by commands.

CREATE TABLE projection_tracking (
    application_name text PRIMARY KEY,
    notification_id bigint
);

CREATE TABLE payments (
    id uuid PRIMARY KEY,
    merchant_id uuid NOT NULL,
    customer_id uuid,
    status text NOT NULL,
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    currency char(3) NOT NULL,
    amount_capturable_minor bigint NOT NULL DEFAULT 0 CHECK (amount_capturable_minor >= 0),
    amount_captured_minor bigint NOT NULL DEFAULT 0 CHECK (amount_captured_minor >= 0),
    amount_refunded_minor bigint NOT NULL DEFAULT 0 CHECK (amount_refunded_minor >= 0),
    amount_refund_pending_minor bigint NOT NULL DEFAULT 0 CHECK (amount_refund_pending_minor >= 0),
    fee_minor bigint NOT NULL DEFAULT 0 CHECK (fee_minor >= 0),
    capture_method text NOT NULL,
    card_brand text NOT NULL,
    card_bin text NOT NULL,
    card_last4 char(4) NOT NULL,
    risk_outcome text,
    risk_score integer,
    risk_reasons text[],
    decline_code text,
    cancellation_reason text,
    description text,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    authorized_at timestamptz,
    version integer NOT NULL,
    -- The money invariants of a payment hold in the read model too.
    CHECK (amount_captured_minor <= amount_minor),
    CHECK (amount_refunded_minor + amount_refund_pending_minor <= amount_captured_minor)
);

CREATE INDEX payments_by_merchant ON payments (merchant_id, created_at DESC, id DESC);
CREATE INDEX payments_by_customer ON payments (merchant_id, customer_id, created_at DESC, id DESC);
CREATE INDEX payments_by_status ON payments (merchant_id, status, created_at DESC, id DESC);
CREATE INDEX payments_holds ON payments (authorized_at) WHERE status = 'requires_capture';

CREATE TABLE refunds (
    id uuid PRIMARY KEY,
    payment_id uuid NOT NULL,
    merchant_id uuid NOT NULL,
    status text NOT NULL,
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    currency char(3) NOT NULL,
    reason text,
    failure_code text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version integer NOT NULL
);

CREATE INDEX refunds_by_payment ON refunds (payment_id, created_at);
CREATE INDEX refunds_by_merchant ON refunds (merchant_id, created_at DESC, id DESC);
