-- Read model "directory": merchants and their customers (profiles for GraphQL and reports).

CREATE TABLE merchants (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    email text,
    settlement_currency char(3) NOT NULL,
    fee_basis_points integer NOT NULL,
    fee_fixed_minor bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version integer NOT NULL
);

CREATE TABLE customers (
    id uuid PRIMARY KEY,
    merchant_id uuid NOT NULL,
    name text NOT NULL,
    email text,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version integer NOT NULL
);

CREATE INDEX customers_by_merchant ON customers (merchant_id, created_at DESC, id DESC);
