-- One-time sign-in links (`atlas demo` prints one): a random code, stored as its
-- SHA-256, that signs its holder in once as the token it was made for.

CREATE TABLE ui_sign_in_links (
    code_hash TEXT PRIMARY KEY NOT NULL,
    token_id TEXT NOT NULL REFERENCES api_tokens (id),
    expires_at TEXT NOT NULL
);
