"""Recurring jobs: declared here, scheduled from truce.toml's [schedule], run under a lease by the worker."""
