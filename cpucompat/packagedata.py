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
import os
from typing import TYPE_CHECKING

from .errors import PackageDataMissing

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["data_path", "data_directory"]


def data_path(*parts: str) -> Path:
    """The path of ``cpucompat.data``/`parts` (say ``data_path("cpu_maps")``).

    Raises PackageDataMissing, one line naming the checkout and what to run,
    when ``cpucompat.data`` is not installed.
    """
    from pathlib import Path

    return Path(data_directory(*parts))


def data_directory(*parts: str) -> str:
    """`data_path` as a string, for a start-up that imports no pathlib
    (a map loaded from its compiled form)."""
    try:
        # the package's directory, as importlib.resources.files would give for
        # an installed (not zipped) package, without importing importlib.resources
        # (zipfile, tempfile, shutil...: milliseconds of every command's start-up)
        root = next(iter(importlib.import_module("cpucompat.data").__path__))
    except ModuleNotFoundError:
        checkout = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
        raise PackageDataMissing(
            f"cpucompat.data is not installed: this cpucompat is the source checkout {checkout}, whose "
            "data/ installs as cpucompat.data; run `pip install -e .` there (or `pip install .`, then the "
            "`cpucompat` and `pytest` commands, not `python -m`, which imports the checkout)") from None
    return os.path.join(root, *parts)
