"""One module per resource; each route parses, authorizes, calls a service, renders."""
