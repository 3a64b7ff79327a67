"""Nova scheduler filters backed by cpucompat (installed as cpucompat.filters).

``available_filters = cpucompat.filters.CpuCompatFilter`` in nova.conf.
The class is imported lazily, so ``import cpucompat.filters`` works where
Nova is not installed.
"""


def __getattr__(name):
    if name == "CpuCompatFilter":
        from .cpu_compat_filter import CpuCompatFilter

        return CpuCompatFilter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CpuCompatFilter"]
