-- The canonical bytes of each event: exactly what its hash is computed
-- over, kept when it is appended, so that verification hashes them as they
-- are instead of rebuilding them from the columns (see the core's
-- `audit::canonical`). Verification also checks, in its query, that the
-- columns say what the bytes say. Events written before this migration
-- have none (NULL): they are verified from their columns, as before.
-- Adding a nullable column without a default rewrites nothing.
ALTER TABLE audit_events ADD COLUMN canonical bytea;
