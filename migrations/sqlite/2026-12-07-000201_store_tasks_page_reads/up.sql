-- The tasks page reads the newest store tasks of the projects in scope, and their counts
-- by status, on every request (the queue changes every second, so nothing of it is kept
-- for long). Without these the list sorted every store task by arrival, a status filter
-- read every task to find a few failed ones, and the counts read the whole table.
-- The list: a backward walk of the index that stops after a page.
CREATE INDEX store_tasks_kind_received ON store_tasks (kind, received_at, id);
-- The list filtered by status: the same walk within one status.
CREATE INDEX store_tasks_kind_status_received ON store_tasks (kind, status, received_at, id);
-- The counts by status: an index-only count, narrowed to the projects in scope. Kept
-- apart from the index above: with the arrival time in it, PostgreSQL's planner found
-- a sequential scan cheaper than counting it.
CREATE INDEX store_tasks_kind_status_project ON store_tasks (kind, status, project_id);
