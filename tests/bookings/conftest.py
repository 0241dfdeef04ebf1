"""A re-export only: tests/model/test_money_machine.py still imports
make_catalog from here. Delete once it imports it from tests.factories."""

from tests.factories import make_catalog  # noqa: F401
