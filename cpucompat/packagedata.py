"""The one lookup of the data shipped inside the package.

The checkout's top-level ``data/`` (libvirt's cpu_map, the sample fleet)
installs as ``cpucompat.data`` (setup.cfg's ``package_dir``), so it exists
only once cpucompat is installed, or installed in editable mode.  Run from a
source checkout that is not (``python -m cpucompat`` or ``python -m pytest``
in the checkout, which put the checkout's ``cpucompat/`` first on sys.path),
every lookup stops with one line saying what to run instead.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from .errors import PackageDataMissing

__all__ = ["data_path"]


def data_path(*parts: str) -> Path:
    """The path of ``cpucompat.data``/`parts` (say ``data_path("cpu_maps")``).

    Raises PackageDataMissing, one line naming the checkout and what to run,
    when ``cpucompat.data`` is not installed.
    """
    try:
        # the package's directory, as importlib.resources.files would give for
        # an installed (not zipped) package, without importing importlib.resources
        # (zipfile, tempfile, shutil...: milliseconds of every command's start-up)
        root = Path(next(iter(importlib.import_module("cpucompat.data").__path__)))
    except ModuleNotFoundError:
        checkout = Path(__file__).resolve().parent.parent
        raise PackageDataMissing(
            f"cpucompat.data is not installed: this cpucompat is the source checkout {checkout}, whose "
            "data/ installs as cpucompat.data; run `pip install -e .` there (or `pip install .`, then the "
            "`cpucompat` and `pytest` commands, not `python -m`, which imports the checkout)") from None
    return root.joinpath(*parts)
