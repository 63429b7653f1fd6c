-- Personal data (crypto-shredding): one data key per customer, wrapped by the master key
-- (PAYSOURCE_PII_MASTER_KEY). Events hold customers' personal data only sealed with
-- that key; erasing a customer sets wrapped_key to NULL, which makes every copy of it
-- unreadable. The row stays as a tombstone so a key is never made again for an erased
-- customer (docs/audit.md, "Erasing personal data").

CREATE TABLE customer_keys (
    subject_id uuid PRIMARY KEY,
    wrapped_key bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    erased_at timestamptz,
    CONSTRAINT customer_keys_erased_has_no_key
        CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL))
);

-- A key once destroyed stays destroyed: no UPDATE may put one back.
CREATE FUNCTION customer_keys_stay_erased() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.wrapped_key IS NULL AND NEW.wrapped_key IS NOT NULL THEN
        RAISE EXCEPTION 'customer key % was erased and cannot be restored', OLD.subject_id;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER customer_keys_stay_erased
    BEFORE UPDATE ON customer_keys
    FOR EACH ROW EXECUTE FUNCTION customer_keys_stay_erased();
