-- Read model "ledger": a double-entry journal with TigerBeetle-style account balances.
-- The chart of accounts and the posting rule of every event are in docs/ledger.md.

-- Per payment, what the ledger needs from its creation (kept by the ledger itself, so
-- it rebuilds without any other read model).
CREATE TABLE ledger_payments (
    id uuid PRIMARY KEY,
    merchant_id uuid NOT NULL,
    currency char(3) NOT NULL,
    amount_minor bigint NOT NULL CHECK (amount_minor > 0)
);

CREATE TABLE ledger_accounts (
    account text NOT NULL,
    currency char(3) NOT NULL,
    kind text NOT NULL,
    merchant_id uuid,
    debits_pending bigint NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    debits_posted bigint NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_pending bigint NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    credits_posted bigint NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    PRIMARY KEY (account, currency)
);

CREATE INDEX ledger_accounts_by_merchant ON ledger_accounts (merchant_id, kind);

CREATE TABLE journal_entries (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    merchant_id uuid NOT NULL,
    payment_id uuid,
    refund_id uuid,
    occurred_at timestamptz NOT NULL,
    -- The event that caused the entry: "<originator id>:<version>".
    event_ref text NOT NULL UNIQUE
);

CREATE INDEX journal_entries_by_merchant ON journal_entries (merchant_id, occurred_at, id);

-- A line of an entry. `phase` follows TigerBeetle's two-phase transfers: `pending`
-- adds to the account's *_pending, `release` takes it away again (post or void), and
-- `posted` adds to *_posted.
CREATE TABLE postings (
    entry_id uuid NOT NULL,
    line smallint NOT NULL,
    account text NOT NULL,
    currency char(3) NOT NULL,
    side char(1) NOT NULL CHECK (side IN ('D', 'C')),
    phase text NOT NULL CHECK (phase IN ('pending', 'release', 'posted')),
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (entry_id, line)
);

CREATE INDEX postings_by_account ON postings (account, currency, occurred_at, entry_id, line);

-- Double entry, enforced again in SQL: in every statement that writes postings, each
-- entry's debits equal its credits, per currency and phase. Entries are therefore
-- written whole, in one statement.
CREATE FUNCTION ledger_check_balanced() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    unbalanced record;
BEGIN
    SELECT entry_id, currency, phase,
           sum(CASE side WHEN 'D' THEN amount_minor ELSE -amount_minor END) AS difference
      INTO unbalanced
      FROM new_postings
     GROUP BY entry_id, currency, phase
    HAVING sum(CASE side WHEN 'D' THEN amount_minor ELSE -amount_minor END) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unbalanced journal entry %: % % debits exceed credits by %',
            unbalanced.entry_id, unbalanced.currency, unbalanced.phase, unbalanced.difference
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER postings_balanced
    AFTER INSERT ON postings
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_balanced();

-- Lines are never edited: a correction is a new entry.
CREATE FUNCTION ledger_postings_immutable() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'postings are never updated; write a correcting entry'
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER postings_no_update
    BEFORE UPDATE ON postings
    FOR EACH ROW EXECUTE FUNCTION ledger_postings_immutable();

-- Merchant balances, derived from the ledger (pending: authorized but not captured,
-- less refunds in flight; available: captured − fees − refunds − paid out).
CREATE VIEW merchant_balances AS
SELECT merchant_id,
       currency,
       credits_pending - debits_pending AS pending_minor,
       credits_posted - debits_posted AS available_minor
  FROM ledger_accounts
 WHERE kind = 'merchant_balance';
