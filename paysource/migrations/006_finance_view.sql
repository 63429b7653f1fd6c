-- Read model "finance": daily volume per merchant, currency and UTC day.

CREATE TABLE finance_payments (
    id uuid PRIMARY KEY,
    merchant_id uuid NOT NULL,
    currency char(3) NOT NULL
);

CREATE TABLE daily_volume (
    merchant_id uuid NOT NULL,
    currency char(3) NOT NULL,
    day date NOT NULL,
    captures_count integer NOT NULL DEFAULT 0 CHECK (captures_count >= 0),
    captures_minor bigint NOT NULL DEFAULT 0 CHECK (captures_minor >= 0),
    refunds_count integer NOT NULL DEFAULT 0 CHECK (refunds_count >= 0),
    refunds_minor bigint NOT NULL DEFAULT 0 CHECK (refunds_minor >= 0),
    fees_minor bigint NOT NULL DEFAULT 0 CHECK (fees_minor >= 0),
    net_minor bigint GENERATED ALWAYS AS (captures_minor - refunds_minor - fees_minor) STORED,
    PRIMARY KEY (merchant_id, currency, day)
);

CREATE INDEX daily_volume_by_day ON daily_volume (day, currency);
