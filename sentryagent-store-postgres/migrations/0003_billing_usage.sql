-- Usage roll-ups (one row per tenant, UTC day and metric; a month is the sum
-- of its days), subscriptions, and the billing events already applied.

CREATE TABLE usage_daily (
    tenant_id  uuid NOT NULL,
    day        date NOT NULL,
    metric     text NOT NULL,
    count      bigint NOT NULL,
    PRIMARY KEY (tenant_id, day, metric)
);

CREATE TABLE subscriptions (
    tenant_id           uuid PRIMARY KEY,
    tier                text NOT NULL,
    status              text NOT NULL,
    customer_id         text,
    subscription_id     text UNIQUE,
    current_period_end  timestamptz,
    updated_at          timestamptz NOT NULL
);

CREATE TABLE billing_events (
    id           text PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now()
);
