# Nova's functional tests run under testtools/stestr (pytest 9 cannot drive
# Nova's fixtures); the pytest suite leaves this directory to that runner.
collect_ignore_glob = ["*.py"]
