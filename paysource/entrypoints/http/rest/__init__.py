"""The versioned REST API (`/v1`): thin routes over the application services."""
