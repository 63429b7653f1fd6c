-- Webhooks: the endpoints merchants registered, the webhook events made from the log,
-- one delivery per (event, endpoint) and every attempt to deliver it.
--
-- Written by the webhook outbox (paysource/projections/webhooks.py: endpoints,
-- events and new deliveries, committed with its tracking position) and by the
-- delivery workers (attempts, delivery status, endpoint health). Unlike the read
-- models this is an outbox, not rebuildable: replaying the log would send every
-- webhook again.

CREATE TABLE webhook_endpoints (
    id uuid PRIMARY KEY,
    merchant_id uuid NOT NULL,
    url text NOT NULL CHECK (length(url) <= 2048),
    events text[] NOT NULL,
    description text,
    status text NOT NULL CHECK (status IN ('enabled', 'disabled', 'deleted')),
    disabled_reason text,
    disabled_at timestamptz,
    created_at timestamptz NOT NULL,
    version integer NOT NULL,
    -- Which derived secret signs (see paysource/application/webhooks.py); the one
    -- before it also signs for a while after a rotation.
    secret_generation integer NOT NULL DEFAULT 1 CHECK (secret_generation >= 1),
    secret_rotated_at timestamptz,
    -- Kept by the delivery workers: how long the endpoint has been failing.
    failing_since timestamptz,
    consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    last_success_at timestamptz,
    last_failure_at timestamptz
);

CREATE INDEX webhook_endpoints_by_merchant
    ON webhook_endpoints (merchant_id, created_at DESC, id DESC);

-- One row per state change that had at least one subscribed endpoint. The id is
-- derived from (object id, object version), so it is stable forever.
CREATE TABLE webhook_events (
    id uuid PRIMARY KEY,
    merchant_id uuid NOT NULL,
    type text NOT NULL,
    object_id uuid NOT NULL,
    object_version integer NOT NULL CHECK (object_version >= 1),
    -- The exact JSON body that is signed and sent (bounded: objects are bounded).
    payload text NOT NULL CHECK (octet_length(payload) <= 262144),
    created_at timestamptz NOT NULL
);

CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    -- Insertion order, which is log order: lists page by it.
    seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    event_id uuid NOT NULL REFERENCES webhook_events (id),
    endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id),
    merchant_id uuid NOT NULL,
    event_type text NOT NULL,
    object_id uuid NOT NULL,
    object_version integer NOT NULL,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- A lease: the worker that claimed the delivery owns it until then. A worker
    -- killed mid-attempt loses nothing: the delivery is claimable again after it.
    locked_until timestamptz,
    locked_by text,
    last_attempt_at timestamptz,
    completed_at timestamptz,
    UNIQUE (event_id, endpoint_id),
    CHECK ((status = 'pending') = (completed_at IS NULL))
);

CREATE INDEX webhook_deliveries_due
    ON webhook_deliveries (next_attempt_at, seq) WHERE status = 'pending';
-- Per-object ordering: is an older version of this object still pending here?
CREATE INDEX webhook_deliveries_object_order
    ON webhook_deliveries (endpoint_id, object_id, object_version) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, seq DESC);

CREATE TABLE webhook_attempts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id),
    attempted_at timestamptz NOT NULL,
    trigger text NOT NULL CHECK (trigger IN ('automatic', 'manual')),
    succeeded boolean NOT NULL,
    status_code integer CHECK (status_code BETWEEN 100 AND 599),
    latency_ms integer NOT NULL CHECK (latency_ms >= 0),
    error text CHECK (length(error) <= 500)
);

CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id DESC);
