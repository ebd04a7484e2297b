"""What the entrypoints still reach past a library's public API, one module per library, and nowhere else.

As under `adapters/_compat/`: each module names what it relies on and why, its canary test
(`tests/*/test_compat_*.py`) fails with a clear message when the library changes under it, and pyproject.toml
bounds the library's version. `tests/unit/test_private_api_reach.py` fails for any private reach elsewhere.
"""
