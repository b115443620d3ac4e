-- +goose Up
-- An entry spent as a member names the member and the period of its cap it
-- counts in on its own row (member_id, member_period_start; NULL: spent as
-- no member), written with the entry in its one INSERT. This replaces
-- member_entries, a second row per such entry; verify sums these entries'
-- amounts against each period's spending. entries_member lists a member's
-- entries for its history page, newest first; it names only entries spent
-- as a member.
ALTER TABLE entries ADD COLUMN member_id TEXT;
ALTER TABLE entries ADD COLUMN member_period_start TIMESTAMPTZ;

-- The ledger stays append-only: its trigger is lifted for this one copy.
ALTER TABLE entries DISABLE TRIGGER entries_no_update;
UPDATE entries SET member_id = me.member_id, member_period_start = me.period_start
    FROM member_entries me WHERE me.entry_id = entries.id;
ALTER TABLE entries ENABLE TRIGGER entries_no_update;

CREATE INDEX entries_member ON entries (account_id, member_id, id) WHERE member_id IS NOT NULL;
DROP TABLE member_entries;

-- +goose Down
CREATE TABLE member_entries (
    entry_id     BIGINT PRIMARY KEY,
    account_id   TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    period_start TIMESTAMPTZ NOT NULL,
    amount       BIGINT NOT NULL
);
CREATE INDEX member_entries_member ON member_entries (account_id, member_id, period_start);
INSERT INTO member_entries (entry_id, account_id, member_id, period_start, amount)
    SELECT id, account_id, member_id, member_period_start, -amount FROM entries WHERE member_id IS NOT NULL;
DROP INDEX entries_member;
ALTER TABLE entries DROP COLUMN member_period_start;
ALTER TABLE entries DROP COLUMN member_id;
