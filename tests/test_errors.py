"""The error hierarchy: every error is a CpuCompatError and the built-in it refines."""
from __future__ import annotations

import os

import pytest

import cpucompat


def test_every_error_is_also_the_builtin_it_refines():
    from cpucompat import errors

    assert issubclass(errors.InvalidCpuXml, ValueError) and issubclass(errors.UnsafeXml, ValueError)
    for cls in (errors.InvalidCpuMap, errors.UnknownInputFormat, errors.InvalidConfig, errors.InvalidInventory):
        assert issubclass(cls, ValueError) and issubclass(cls, errors.CpuCompatError)
    for cls in (errors.UnknownModel, errors.UnknownFeature, errors.UnknownArch):
        assert issubclass(cls, LookupError)
    with pytest.raises(LookupError, match="unknown CPU model 'Haswel'"):
        cpucompat.embedded_cpu_map().x86.model("Haswel")


def test_an_unreadable_file_is_an_oserror_keeping_its_message_and_source(tmp_path):
    from cpucompat.errors import UnreadableFile
    from cpucompat.safefile import read_regular

    with pytest.raises(OSError) as caught:
        read_regular(tmp_path, max_bytes=10)
    exc = caught.value
    assert isinstance(exc, UnreadableFile)
    assert exc.source == str(tmp_path)
    assert str(exc) == f"{tmp_path}: cannot read: a directory, not a regular file"
    assert exc.errno is None and exc.strerror is None
    two = UnreadableFile("cannot read: gone", source="a.xml")
    assert str(two) == "a.xml: cannot read: gone" and two.source == "a.xml"


def test_an_unwritable_output_is_an_oserror_naming_it_once(tmp_path):
    from cpucompat.atomic import write_output
    from cpucompat.errors import UnwritableFile

    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(UnwritableFile) as caught:
        write_output(tmp_path / "pipe", "x")  # a FIFO nobody reads
    assert isinstance(caught.value, OSError)
    assert str(caught.value) == f"{tmp_path / 'pipe'}: cannot write: a FIFO with no reader"
