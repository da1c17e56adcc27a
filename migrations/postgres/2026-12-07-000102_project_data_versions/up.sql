-- A number each project's page data changes with: every scoring batch, quarantine
-- change, settings change and retention purge adds one, in the transaction that made the
-- change. Page caches (one per server, any number of servers) key their entries by it, so
-- a change made through any server is seen by all at their next request.
CREATE TABLE project_data_versions (
    project_id  BIGINT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    version     BIGINT NOT NULL
);
