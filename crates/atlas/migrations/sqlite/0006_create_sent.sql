-- What the first create of a task (for its current link generation) sent to
-- Altimeter: the base of the three-way settle when that create is found again
-- after its answer was lost.

ALTER TABLE tasks ADD COLUMN create_sent TEXT;
ALTER TABLE tasks ADD COLUMN create_sent_generation INTEGER;
