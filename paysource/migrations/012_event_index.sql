-- Read model "events": one row per event of a public object (payments, refunds,
-- settlements, customers, merchants, webhook endpoints), naming the merchant it
-- belongs to. The event store knows no merchant (later events of an aggregate do not
-- carry one), so the feed `GET /v1/events` pages this index by log position instead
-- of decoding the whole log for every page. Numbered 012: 009–011 were taken on main
-- or promised to the Merkle-tree and crypto-shredding work.

CREATE TABLE event_index (
    position bigint PRIMARY KEY,  -- the event's notification_id in paysource_events
    merchant_id uuid NOT NULL,
    object_kind text NOT NULL,
    object_id uuid NOT NULL,
    version bigint NOT NULL,
    type text NOT NULL,
    occurred_at timestamptz NOT NULL,
    actor text NOT NULL,
    actor_id text NOT NULL,
    request_id text,
    traceparent text,
    UNIQUE (object_id, version)
);

-- A merchant's feed, by position (staff read the primary key's order).
CREATE INDEX event_index_by_merchant ON event_index (merchant_id, position);
