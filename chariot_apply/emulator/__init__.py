"""A local stand-in for the Chariot training service: FastAPI over SQLite, following the SDK reference."""
