-- Build URLs blanked by up.sql stay blank: they were unsafe to show.
DROP TABLE web_sessions;
