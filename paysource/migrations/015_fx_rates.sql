-- Currency-true money (issue 11): the operator's exchange rates, merchants' fixed
-- fees per currency, and settlements converted into the merchant's settlement currency.

-- Loaded by `paysource rates load FILE.csv`; never updated: a new rate is a new row
-- with a later valid_from. Exact decimals (numeric), never floats.
CREATE TABLE fx_rates (
    base char(3) NOT NULL,
    quote char(3) NOT NULL,
    rate numeric NOT NULL CHECK (rate > 0),
    valid_from timestamptz NOT NULL,
    source text NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (base, quote, valid_from),
    CHECK (base <> quote)
);

-- Read model "directory": the merchant's own fixed fees, {"JPY": 40, ...}.
ALTER TABLE merchants ADD COLUMN fee_fixed jsonb NOT NULL DEFAULT '{}';

-- Read model "settlements": what is paid out when the settlement converts, at which
-- rate, and why a settlement waits (no rate for its pair yet).
ALTER TABLE settlements
    ADD COLUMN payout_currency char(3),
    ADD COLUMN payout_minor bigint,
    ADD COLUMN fx_pair text,
    ADD COLUMN fx_rate numeric,
    ADD COLUMN fx_rate_valid_from timestamptz,
    ADD COLUMN fx_difference_minor bigint,
    ADD COLUMN waiting_reason text;
