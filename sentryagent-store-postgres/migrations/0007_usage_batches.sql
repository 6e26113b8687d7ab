-- Usage batches already added: counts an instance could not store at its
-- shutdown, spilled to a file and added by a later start, once however many
-- starts find the file.
CREATE TABLE usage_batches (
    id          text PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
