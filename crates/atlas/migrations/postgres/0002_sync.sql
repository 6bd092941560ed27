-- The sync engine: the outbox queue, conflicts, received webhooks, remote
-- deletes (for the delete brake), item outcomes (for rates), alerts and shared
-- flags; plus each task's base (the version both sides last agreed on) and when
-- its first create was sent (so a lost answer can be found again).

ALTER TABLE tasks ADD COLUMN sync_base TEXT;
ALTER TABLE tasks ADD COLUMN link_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN create_attempted_at TEXT COLLATE "C";
CREATE INDEX tasks_related_idx ON tasks (related_altimeter_task_id);

CREATE TABLE sync_queue (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lane TEXT COLLATE "C" NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('push', 'pull')),
    task_id TEXT COLLATE "C",
    remote_id TEXT COLLATE "C",
    hint_version BIGINT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'in_flight', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TEXT COLLATE "C" NOT NULL,
    lease_owner TEXT COLLATE "C",
    lease_expires_at TEXT COLLATE "C",
    last_error TEXT,
    reason TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL
);

-- Pending items of one lane and direction coalesce into one row.
CREATE UNIQUE INDEX sync_queue_coalesce_idx ON sync_queue (lane, direction) WHERE status = 'pending';
-- The claim: due pending items, oldest due first.
CREATE INDEX sync_queue_claim_idx ON sync_queue (status, next_attempt_at, id);
-- One lane at a time, and the task's sync status.
CREATE INDEX sync_queue_lane_idx ON sync_queue (lane, status);
CREATE INDEX sync_queue_task_idx ON sync_queue (task_id, status);
-- Expired leases, and the age of the oldest pending change, without a scan.
CREATE INDEX sync_queue_lease_idx ON sync_queue (lease_expires_at) WHERE status = 'in_flight';
CREATE INDEX sync_queue_age_idx ON sync_queue (created_at) WHERE status = 'pending';

CREATE TABLE sync_conflicts (
    id TEXT COLLATE "C" PRIMARY KEY,
    task_id TEXT COLLATE "C" NOT NULL REFERENCES tasks (id),
    kind TEXT NOT NULL CHECK (kind IN ('fields', 'edit_delete')),
    status TEXT NOT NULL CHECK (status IN ('unresolved', 'resolved', 'auto_resolved')),
    fields TEXT NOT NULL,
    base TEXT,
    local TEXT NOT NULL,
    remote TEXT NOT NULL,
    local_version BIGINT NOT NULL,
    remote_version BIGINT NOT NULL,
    local_edited_at TEXT NOT NULL,
    remote_edited_at TEXT NOT NULL,
    winner TEXT,
    resolution TEXT,
    resolved_by TEXT,
    resolved_at TEXT COLLATE "C",
    created_at TEXT COLLATE "C" NOT NULL
);

CREATE INDEX sync_conflicts_status_idx ON sync_conflicts (status, created_at);
CREATE UNIQUE INDEX sync_conflicts_open_idx ON sync_conflicts (task_id) WHERE status = 'unresolved';

CREATE TABLE webhook_events (
    event_id TEXT COLLATE "C" PRIMARY KEY,
    event_type TEXT NOT NULL,
    remote_id TEXT COLLATE "C" NOT NULL,
    remote_version BIGINT NOT NULL,
    occurred_at TEXT NOT NULL,
    received_at TEXT COLLATE "C" NOT NULL
);

CREATE INDEX webhook_events_received_idx ON webhook_events (received_at);

CREATE TABLE remote_deletes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id TEXT COLLATE "C" NOT NULL REFERENCES tasks (id),
    remote_id TEXT COLLATE "C" NOT NULL,
    remote_version BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('applied', 'held', 'released', 'discarded')),
    detected_at TEXT COLLATE "C" NOT NULL
);

CREATE INDEX remote_deletes_detected_idx ON remote_deletes (detected_at);
CREATE INDEX remote_deletes_status_idx ON remote_deletes (status);
CREATE INDEX remote_deletes_task_idx ON remote_deletes (task_id, status);

CREATE TABLE sync_outcomes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    direction TEXT NOT NULL,
    outcome TEXT NOT NULL,
    finished_at TEXT COLLATE "C" NOT NULL
);

CREATE INDEX sync_outcomes_finished_idx ON sync_outcomes (finished_at);

CREATE TABLE alerts (
    key TEXT COLLATE "C" PRIMARY KEY,
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    since TEXT COLLATE "C" NOT NULL,
    notified_at TEXT
);

CREATE TABLE sync_state (
    key TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL
);
