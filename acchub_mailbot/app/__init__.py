"""The use cases every front end calls: poll, decide and register, clients, digests, status."""
