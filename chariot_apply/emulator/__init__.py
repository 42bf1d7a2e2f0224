"""A local stand-in for the Chariot training service: Starlette over SQLite, following the SDK reference."""
