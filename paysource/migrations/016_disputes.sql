-- Disputes (chargebacks), docs/disputes.md.
--
-- Read model "disputes": one row per dispute, for lists with filters (status, payment,
-- created range) and for GraphQL.
CREATE TABLE disputes (
    id uuid PRIMARY KEY,
    merchant_id uuid NOT NULL,
    payment_id uuid NOT NULL,
    status text NOT NULL
        CHECK (status IN ('needs_response', 'under_review', 'won', 'lost')),
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    fee_minor bigint NOT NULL CHECK (fee_minor >= 0),
    currency char(3) NOT NULL,
    reason text NOT NULL,
    source text NOT NULL,
    due_by timestamptz NOT NULL,
    evidence_submitted_at timestamptz,
    outcome_reason text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version integer NOT NULL
);

CREATE INDEX disputes_by_merchant ON disputes (merchant_id, created_at DESC, id DESC);
CREATE INDEX disputes_by_payment ON disputes (payment_id);
CREATE INDEX disputes_by_status ON disputes (status, created_at DESC, id DESC);

-- Settlements settle disputes: `dispute` (amount and fee taken when opened) and
-- `dispute_won` (given back). The item kinds of every helper so far: 007's, 014's
-- `correction`, and these.
ALTER TABLE settleable_items DROP CONSTRAINT IF EXISTS settleable_items_kind_check;
ALTER TABLE settleable_items ADD CONSTRAINT settleable_items_kind_check CHECK (
    kind IN ('capture', 'refund', 'carried_forward', 'correction', 'dispute', 'dispute_won')
);

-- A settlement's net now includes what disputes moved (negative: taken; positive: won).
ALTER TABLE settlements ADD COLUMN disputes_minor bigint NOT NULL DEFAULT 0;
ALTER TABLE settlements DROP CONSTRAINT IF EXISTS settlements_check;
ALTER TABLE settlements ADD CONSTRAINT settlements_net_check CHECK (
    net_minor = gross_minor - refunds_minor - fees_minor + carried_in_minor + disputes_minor
);
