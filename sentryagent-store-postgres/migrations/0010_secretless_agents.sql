-- Secretless agents (issue #22). A credential may hold a public key
-- (private_key_jwt) instead of a secret: its secret_hash is then empty.
-- A trust policy of provider 'oidc' trusts an issuer a tenant registered,
-- with conditions on the issuer's claims; its repository is empty.
ALTER TABLE credentials ADD COLUMN public_jwk jsonb;

ALTER TABLE trust_policies ADD COLUMN issuer text;
ALTER TABLE trust_policies ADD COLUMN audience text;
ALTER TABLE trust_policies ADD COLUMN subject text;
ALTER TABLE trust_policies ADD COLUMN claim_conditions jsonb;
