-- Signed webhooks (realtone_core.webhooks): an account's default endpoint and signing
-- secret, a per-analysis callback URL, and one delivery (with its attempts) per event.

-- Per account: the default endpoint and the secret deliveries are signed with. The secret is
-- kept as is (it must be usable to sign); Postgres's own encryption at rest covers it.
CREATE TABLE account_webhooks (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    webhook_url text,
    secret text,
    secret_created_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Per analysis: where its result goes (over the account's default).
ALTER TABLE analyses ADD COLUMN callback_url text;

CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    analysis_id uuid NOT NULL REFERENCES analyses (id) ON DELETE CASCADE,
    owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event text NOT NULL CHECK (event IN ('analysis.completed', 'analysis.failed')),
    url text NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    -- When its message was sent to the webhook queue (NULL: not yet; the sweep sends it).
    enqueued_at timestamptz,
    -- The next attempt is not made before this (also the lease of an attempt under way).
    next_attempt_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    UNIQUE (analysis_id, event)
);
CREATE INDEX webhook_deliveries_unsent ON webhook_deliveries (created_at)
    WHERE enqueued_at IS NULL AND status = 'pending';

CREATE TABLE webhook_delivery_attempts (
    delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    started_at timestamptz NOT NULL,
    duration_ms integer NOT NULL,
    status_code integer,
    error text,
    -- The first few hundred characters of the receiver's answer, nothing more.
    response_excerpt text,
    next_retry_at timestamptz,
    PRIMARY KEY (delivery_id, attempt)
);

-- Every way an analysis ends (the scorer completing or failing it, the last attempt before
-- the DLQ, the sweep failing a stalled one or expiring an upload that never came, an API
-- read noticing the expiry) is a status UPDATE: the delivery is created in that same
-- transaction, so no path can finish an analysis and lose its event. Expired analyses are
-- announced as analysis.failed (their document says "expired").
CREATE FUNCTION realtone_webhook_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target text;
BEGIN
    IF NEW.status IN ('completed', 'failed', 'expired')
            AND OLD.status IS DISTINCT FROM NEW.status THEN
        target := COALESCE(
            NEW.callback_url,
            (SELECT webhook_url FROM account_webhooks WHERE user_id = NEW.owner_id)
        );
        IF target IS NOT NULL THEN
            INSERT INTO webhook_deliveries (id, analysis_id, owner_id, event, url)
            VALUES (
                gen_random_uuid(), NEW.id, NEW.owner_id,
                CASE WHEN NEW.status = 'completed' THEN 'analysis.completed'
                     ELSE 'analysis.failed' END,
                target
            )
            ON CONFLICT (analysis_id, event) DO NOTHING;
        END IF;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER analyses_webhook_event AFTER UPDATE OF status ON analyses
    FOR EACH ROW EXECUTE FUNCTION realtone_webhook_event();
