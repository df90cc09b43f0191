"""The service database: tables, migrations and repositories."""
