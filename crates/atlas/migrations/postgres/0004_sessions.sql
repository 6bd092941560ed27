-- Web UI sessions: a token exchanged at sign-in for a cookie. Only the SHA-256 of
-- the cookie is stored; a session ends when it expires, at sign-out, or when its
-- token is revoked (every lookup joins the live token).

CREATE TABLE ui_sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    token_id TEXT NOT NULL REFERENCES api_tokens (id),
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX ui_sessions_expiry_idx ON ui_sessions (expires_at);
