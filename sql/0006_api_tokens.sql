-- 0006: bearer tokens of the HTTP API (`reporter serve`).
--
-- Customers reserve their own hour through the API, each with a token of their
-- own; admin tokens act for any user. Only a token's SHA-256 is stored, so a
-- copy of the database grants nothing. A user's tokens go with the user.

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    -- The user the token acts for; NULL for an admin token.
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    -- An admin token's own name (who holds it), shown by `tokens list`.
    admin_name TEXT,
    -- Lowercase hex SHA-256 of the whole token.
    hash       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    CHECK ((user_id IS NULL) <> (admin_name IS NULL))
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);
