"""The filter as an unconfigured nova-scheduler builds it, for the tests
that run it inside real Nova (each test module skips without Nova)."""
from __future__ import annotations

import pytest


@pytest.fixture()
def cpu_filter():
    """CpuCompatFilter on Nova's CONF, host-model guests."""
    nova_conf = pytest.importorskip("nova.conf", reason="Nova is not installed: pip install '.[nova]'")
    from cpucompat.filters import CpuCompatFilter
    from cpucompat.nova import config

    conf = nova_conf.CONF
    conf([], project="nova")
    if "cpucompat" not in conf:
        config.register_opts(conf)
    conf.set_override("cpu_mode", "host-model", group="cpucompat")
    yield CpuCompatFilter()
    conf.reset()
