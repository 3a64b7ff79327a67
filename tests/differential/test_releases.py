"""The differential laws against the real libvirt releases in chroots
(libvirt 11.3.0 in Debian trixie, 12.8.0 in testing; tests/differential/
chroot.py builds them), each release with cpucompat's embedded map of that
release: cpucompat's baseline, expand, migratable expansion, compare and
decode must answer as that libvirt does, case for case, and so must the
expansion of every model of its map.

``$CPUCOMPAT_CHROOTS`` (colon-separated chroot directories) says where the
chroots are; without it, or without root (chroot, mount), the tests are
skipped with the reason.  ``$CPUCOMPAT_DIFFERENTIAL_EXAMPLES`` sets the
examples per law (default 40); longrun.py is the long run (RESULTS.md).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from chroot import Oracle  # noqa: E402
from laws import EXHAUSTIVE, LAWS, Draw  # noqa: E402
from longrun import run_law  # noqa: E402

from cpucompat.engine.maps import resolve_map_spec  # noqa: E402
from cpucompat.engine.releases import KNOWN_VERSIONS  # noqa: E402

CHROOTS = [Path(p) for p in os.environ.get("CPUCOMPAT_CHROOTS", "").split(":") if p]
EXAMPLES = int(os.environ.get("CPUCOMPAT_DIFFERENTIAL_EXAMPLES", "40"))
DRAWN = ("baseline", "expand", "migratable", "compare", "decode")


def _skip_reason() -> str | None:
    if not CHROOTS:
        return ("no libvirt release chroots: set CPUCOMPAT_CHROOTS=DIR[:DIR] (tests/differential/chroot.py "
                "build DIR --suite trixie|testing makes one)")
    if os.geteuid() != 0:
        return "the release chroots need root (chroot, mount)"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


@pytest.fixture(scope="module", params=CHROOTS or [None], ids=lambda p: p.name if p else "none")
def release(request):
    """(oracle, embedded map of its version) for one chroot; unmounted after the module."""
    oracle = Oracle(request.param)
    try:
        version = oracle.version_name
        if version not in KNOWN_VERSIONS:
            pytest.skip(f"{request.param}: libvirt {version} has no embedded map in cpucompat")
        yield oracle, resolve_map_spec(version)
    finally:
        oracle.close()


@pytest.mark.parametrize("law_name", DRAWN)
def test_drawn_cases_agree_with_the_release(release, law_name):
    oracle, cpumap = release
    law = LAWS[law_name](Draw(cpumap), oracle.ask)
    differences = [(case, outcome.keys) for case, outcome in run_law(law, EXAMPLES, 1) if outcome.keys]
    assert not differences, f"libvirt {oracle.version_name} {law_name}: {len(differences)} differ, " \
                            f"first {differences[0]}"


def test_every_model_of_the_releases_map_expands_as_the_release_does(release):
    oracle, cpumap = release
    law = EXHAUSTIVE["models"](Draw(cpumap), oracle.ask)
    differences = [(case, outcome.keys) for case in law.cases() if (outcome := law.check(case)).keys]
    assert not differences, f"libvirt {oracle.version_name}: {differences[:3]}"


def test_this_machines_cpu_read_live_equals_the_releases_capabilities(release):
    """R6: cpucompat reads this CPU's CPUID and the MSRs the release reads
    (releases.host_msrs) and must name the host CPU that release's
    capabilities name, as root (else the CPUID device is unreadable)."""
    from cpucompat.inputs import live
    from cpucompat.inputs.parse import parse_cpus

    oracle, cpumap = release
    if live.local_cpuid_dump(cpumap) is None:
        pytest.skip(f"{live.CPUID_DEVICE} is not readable (needs root and the cpuid module)")
    theirs = parse_cpus(oracle.ask({"op": "capabilities"})["xml"], "capabilities", cpumap)[0]
    ours = live.local_host_cpu(cpumap)
    assert (ours.model, ours.vendor, sorted(ours.features)) == (theirs.model, theirs.vendor, sorted(theirs.features))


def test_a_few_hypervisor_compares_agree_with_the_release(release):
    """R7: virConnectCompareHypervisorCPU (seconds per call) for a usable
    model, an unusable one and one with its blockers disabled, against
    compare_hypervisor with the same release's domain capabilities; the
    full set is recorded by record_hv.py and replayed in tests/engine."""
    from laws import HypervisorModelCases

    oracle, cpumap = release
    law = HypervisorModelCases(Draw(cpumap), oracle.ask)
    cases = law.cases()
    usable = [c for c in cases if "policy" not in c][:1]
    disabled = [c for c in cases if "policy='disable'" in c][:1]
    plain = [c for c in cases if "policy" not in c and c not in usable][-1:]
    differences = [(case, outcome.detail) for case in usable + plain + disabled
                   if (outcome := law.check(case)).keys]
    assert not differences, f"libvirt {oracle.version_name}: {differences}"
