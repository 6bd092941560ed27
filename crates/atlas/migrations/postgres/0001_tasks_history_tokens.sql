-- Tasks (SPEC §2), every version of every task, and API tokens.
-- Timestamps are TEXT in one fixed UTC format (YYYY-MM-DDTHH:MM:SS.ffffffZ) with
-- the "C" collation, so they sort as text exactly as on SQLite; booleans are
-- 0/1 smallints. One code path serves both backends.

CREATE TABLE tasks (
    id TEXT COLLATE "C" PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('open', 'in_progress', 'blocked', 'done')),
    priority TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    assignee TEXT,
    due_date TEXT,
    version BIGINT NOT NULL CHECK (version >= 1),
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    deleted SMALLINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    remote_id TEXT COLLATE "C" UNIQUE,
    remote_version BIGINT,
    last_synced_at TEXT COLLATE "C",
    sync_status TEXT NOT NULL DEFAULT 'pending'
        CHECK (sync_status IN ('pending', 'syncing', 'synced', 'error', 'conflict')),
    sync_error TEXT,
    related_altimeter_task_id TEXT
);

CREATE INDEX tasks_list_idx ON tasks (deleted, created_at, id);
CREATE INDEX tasks_status_idx ON tasks (status, id);
CREATE INDEX tasks_sync_status_idx ON tasks (sync_status, id);

CREATE TABLE task_history (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id TEXT COLLATE "C" NOT NULL REFERENCES tasks (id),
    version BIGINT NOT NULL,
    source TEXT NOT NULL,
    remote_version BIGINT,
    snapshot TEXT NOT NULL,
    actor TEXT,
    recorded_at TEXT COLLATE "C" NOT NULL
);

CREATE INDEX task_history_task_idx ON task_history (task_id, id);

CREATE TABLE api_tokens (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    token_hash TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at TEXT COLLATE "C" NOT NULL,
    revoked_at TEXT
);
