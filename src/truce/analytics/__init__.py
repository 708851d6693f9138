"""Ibis expressions over the shared tables: the metrics every face reports.

Written once, run on DuckDB in process (the default), on the store's own SQLite or
PostgreSQL, or on any engine Ibis reaches. `sources` says where the tables come from;
the metric modules (`funnel`) only see Ibis tables with a fixed set of columns.
"""
