"""Test-wide plugins: the fault register (``tests/faults/register.py``) sees every test marked ``fault``; tests
marked ``solo`` run alone under pytest-xdist (``tests/solo.py``)."""

pytest_plugins = ["tests.faults.register", "tests.solo"]
