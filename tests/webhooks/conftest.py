"""A re-export only: tests/model/test_money_machine.py still imports these
from here. Delete once it imports them from tests.conftest."""

from tests.conftest import PLATFORM_SECRET, record_endpoint  # noqa: F401
