"""What the adapters still reach past a library's public API, one module per library, and nowhere else.

Each module names what it relies on and the upstream issue or the measurement that justifies it; its canary tests
(`tests/*/test_compat_*.py`) fail with a clear message when the library changes under it, and pyproject.toml
bounds the library's version so that a new release is admitted only once they have run against it.
`tests/unit/test_private_api_reach.py` fails for any private module or attribute of a library reached elsewhere.
"""
