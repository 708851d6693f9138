"""Local stand-ins for the CRMs' REST APIs, served on 127.0.0.1 by the tests (no network here).

Each implements only the documented subset truce calls, with the vendor's documented shapes,
and switches for what the real API does on a bad day (429, 503, a revoked token, a record
deleted or merged between syncs). Their record stores sit behind a small interface so a
benchmark can serve millions of records generated on the fly instead of held in memory.
"""
