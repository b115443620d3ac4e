-- +goose Up
-- email_key is an account's email folded by Unicode case and compatibility
-- forms (NFKC and case folding), written by the store with each account, so
-- that an account whose email only looks like another's (U+212A KELVIN SIGN
-- for k, fullwidth letters) is refused. The email itself is compared exactly,
-- as mail systems do. Emails stored before this were lower-cased by Unicode
-- rules when they were created (the look-alike is already folded and cannot
-- be told apart); their key starts as the email.
ALTER TABLE accounts ADD COLUMN email_key TEXT NOT NULL DEFAULT '';
UPDATE accounts SET email_key = email;
CREATE INDEX accounts_email_key ON accounts (email_key);

-- +goose Down
DROP INDEX accounts_email_key;
ALTER TABLE accounts DROP COLUMN email_key;
