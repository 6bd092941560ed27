-- The live feed on SQLite: each change a person would see leaves a signal here,
-- written in the transaction that made the change; the serving process tails
-- the table (writers are serialized, so ids commit in order) and prunes it.
-- PostgreSQL needs no table: its signals travel by NOTIFY atlas_feed.

CREATE TABLE feed_signals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL
);
