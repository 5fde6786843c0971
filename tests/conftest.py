"""Test-wide plugins: the fault register (``tests/faults/register.py``) sees every test marked ``fault``."""

pytest_plugins = ["tests.faults.register"]
