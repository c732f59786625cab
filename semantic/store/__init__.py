"""The PostGIS catalogue: settings, the project-local cluster, models, migrations and loaders."""
