-- The trust model: where an agent registered by a CI workflow came from
-- (its bootstrap trust policy and run), and the scope ceiling of bootstrap
-- policies. Existing agents have no origin; existing bootstrap policies get
-- the ceiling of a new one (no scope at all), the safe reading of a policy
-- that never stated one.

ALTER TABLE agents ADD COLUMN origin jsonb;
ALTER TABLE trust_policies ADD COLUMN max_scopes text[] NOT NULL DEFAULT '{}';
