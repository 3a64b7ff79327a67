"""CpuCompatFilter inside Nova's own functional test framework.

These tests need Nova's functional test environment (``pip install
".[functional]"``) and run under testtools/stestr, not pytest::

    python -m stestr --test-path tests/nova_functional --top-dir tests run

pytest skips this directory (see conftest.py here).
"""
