"""cpucompat compare --domcaps: virConnectCompareHypervisorCPU from a
domain capabilities file, answered as the recorded release answered."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cpucompat.cli import main as cli

RECORDS = sorted((Path(__file__).resolve().parents[1] / "data" / "hypervisor").glob("*.json"))


@pytest.mark.parametrize("path", RECORDS, ids=[p.stem for p in RECORDS])
def test_compare_with_domcaps_answers_as_libvirt_did(path, tmp_path, capsys):
    record = json.loads(path.read_text())
    domcaps = tmp_path / "domcaps.xml"
    domcaps.write_text(record["domcaps"])
    cases = [case for case in record["cases"] if case["result"]]
    guests = tmp_path / "guests.xml"
    guests.write_text("".join(case["guest"] for case in cases))
    status = cli.main(["compare", "--json", "--cpu-map", record["libvirt"], "--domcaps", str(domcaps), str(guests)])
    answers = json.loads(capsys.readouterr().out)
    assert [a["result"] for a in answers] == [case["result"] for case in cases]
    assert status == (0 if all(case["result"] != "incompatible" for case in cases) else 1)


def test_host_and_domcaps_are_one_or_the_other(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["compare", "--host", str(tmp_path), "--domcaps", str(tmp_path), str(tmp_path)])
    assert "not allowed with" in capsys.readouterr().err
