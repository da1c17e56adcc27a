DROP TABLE project_data_versions;
