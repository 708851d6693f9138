"""Which store the analytics cache reads from: truce.analytics.store_read.store_key."""

from __future__ import annotations

from sqlalchemy import create_engine

from truce.analytics.store_read import store_key


def test_it_keys_an_in_memory_sqlite_store_without_a_path():
    # An in-memory SQLite URL has no database path: abspath(None) used to raise TypeError.
    assert store_key(create_engine("sqlite://")) == "sqlite://"


def test_it_makes_a_relative_sqlite_path_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert store_key(create_engine("sqlite:///truce.db")) == f"sqlite:///{tmp_path}/truce.db"
