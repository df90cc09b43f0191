"""The pure core: jobs, datasets, row rules and errors. Imports only the standard library."""
