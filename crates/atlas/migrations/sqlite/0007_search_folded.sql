-- Search that ignores case in every script, on both backends: the title and
-- description lower-cased by Atlas itself (Unicode rules; SQLite's LOWER only
-- knows ASCII). Filled for existing rows at start-up (`store::tasks::refold`).

ALTER TABLE tasks ADD COLUMN search_folded TEXT;
