"""Fixtures shared across the suite live in plain modules and are registered here."""

pytest_plugins = ("tests.world",)
