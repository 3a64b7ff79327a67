"""Domain capabilities read into the host-model CPU and QEMU's models."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cpucompat.engine.maps import resolve_map_spec
from cpucompat.errors import InvalidCpuXml
from cpucompat.inputs.domcaps import parse_domcaps, read_domcaps

DATA = Path(__file__).resolve().parents[1] / "data"
RECORDS = sorted((DATA / "hypervisor").glob("*.json"))


@pytest.mark.parametrize("path", RECORDS, ids=[p.stem for p in RECORDS])
def test_usable_models_and_blockers_are_the_xmls(path):
    record = json.loads(path.read_text())
    xml = record["domcaps"]
    host_model, models = parse_domcaps(xml, path.name, resolve_map_spec(record["libvirt"]))
    assert host_model.fallback == "forbid" and host_model.model
    usable = set(re.findall(r"<model usable='yes'[^>]*>([^<]+)</model>", xml))
    assert usable and {name for name in models.names if models.usable(name)} == usable
    listed = dict(re.findall(r"<blockers model='([^']+)'>", xml) and
                  [(m, tuple(re.findall(r"name='([^']+)'", body)))
                   for m, body in re.findall(r"<blockers model='([^']+)'>(.*?)</blockers>", xml, re.S)])
    for name, blockers in listed.items():
        assert models.blockers_of(name) == blockers
    # before 10.9.0 libvirt lists no blockers: an unusable model is still unusable
    assert all(not models.usable(name) for name in models.names - usable)


def test_other_xml_is_refused_naming_the_input(tmp_path):
    path = tmp_path / "caps.xml"
    path.write_text((DATA / "inputs" / "amd-vm-capabilities.xml").read_text())
    with pytest.raises(InvalidCpuXml, match="not libvirt's <domainCapabilities>"):
        read_domcaps(path)
