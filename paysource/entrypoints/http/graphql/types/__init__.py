"""GraphQL object types, one per module, each built from a read-model row by `from_row`."""
