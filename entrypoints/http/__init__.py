"""The HTTP contract shared by the FastAPI and the Litestar app."""
