-- Tasks (SPEC §2), every version of every task, and API tokens.
-- Timestamps are TEXT in one fixed UTC format (YYYY-MM-DDTHH:MM:SS.ffffffZ), so
-- they sort as text; booleans are 0/1 integers.

CREATE TABLE tasks (
    id TEXT PRIMARY KEY NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('open', 'in_progress', 'blocked', 'done')),
    priority TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    assignee TEXT,
    due_date TEXT,
    version INTEGER NOT NULL CHECK (version >= 1),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    remote_id TEXT UNIQUE,
    remote_version INTEGER,
    last_synced_at TEXT,
    sync_status TEXT NOT NULL DEFAULT 'pending'
        CHECK (sync_status IN ('pending', 'syncing', 'synced', 'error', 'conflict')),
    sync_error TEXT,
    related_altimeter_task_id TEXT
);

CREATE INDEX tasks_list_idx ON tasks (deleted, created_at, id);
CREATE INDEX tasks_status_idx ON tasks (status, id);
CREATE INDEX tasks_sync_status_idx ON tasks (sync_status, id);

CREATE TABLE task_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL REFERENCES tasks (id),
    version INTEGER NOT NULL,
    source TEXT NOT NULL,
    remote_version INTEGER,
    snapshot TEXT NOT NULL,
    actor TEXT,
    recorded_at TEXT NOT NULL
);

CREATE INDEX task_history_task_idx ON task_history (task_id, id);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
