-- A head made after its tenant's checkpoint went missing records the seq of
-- the last stored event then: appends go on from there, but verification
-- reports the chain invalid until an operator re-anchors it. NULL on every
-- head written before, whose MACs stay as they were.
ALTER TABLE audit_heads ADD COLUMN lost_at bigint;
