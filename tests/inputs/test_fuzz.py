"""Fuzzing: valid and broken inputs never crash outside CpuCompatError.

The strategies here build CPU XML (valid, mutated, truncated), Nova
cpu_info values of every type, and inventories.  CI runs a bounded number
of examples; ``python fuzz/run.py`` runs the same properties for 100,000+
inputs and records the result in fuzz/RESULTS.md.
"""
from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cpucompat
from cpucompat.nova.config import CpuPolicy
from cpucompat.nova.scheduling import CpuPlacement

MAP = cpucompat.embedded_cpu_map()
X86 = MAP.x86
EXAMPLES = int(os.environ.get("CPUCOMPAT_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

names = st.one_of(st.sampled_from([f.name for f in X86.features]), st.text(max_size=12))
models = st.one_of(st.sampled_from([m.name for m in X86.models]), st.text(max_size=12))
attr = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="'<&\x00"), max_size=10)


@st.composite
def cpu_xml(draw) -> str:
    parts = ["<cpu"]
    for key in draw(st.lists(st.sampled_from(["mode", "match", "check", "migratable"]), unique=True, max_size=3)):
        value = draw(st.one_of(attr, st.sampled_from(["custom", "host-model", "host-passthrough", "exact",
                                                       "minimum", "strict", "on", "off", "full"])))
        parts.append(f" {key}='{value}'")
    parts.append(">")
    if draw(st.booleans()):
        parts.append(f"<arch>{draw(st.sampled_from(['x86_64', 'i686', 'ppc64', 'aarch64', 'ia64', '']))}</arch>")
    if draw(st.booleans()):
        parts.append(f"<model>{draw(models)}</model>")
    if draw(st.booleans()):
        parts.append(f"<vendor>{draw(st.sampled_from(['Intel', 'AMD', 'Hygon', 'Nope', '']))}</vendor>")
    for _ in range(draw(st.integers(0, 5))):
        policy = draw(st.one_of(st.none(), st.sampled_from(["require", "disable", "force", "forbid", "optional"]),
                                attr))
        name = draw(names).replace("'", "")
        parts.append(f"<feature name='{name}'" + (f" policy='{policy}'" if policy is not None else "") + "/>")
    parts.append("</cpu>")
    text = "".join(parts)
    mutation = draw(st.sampled_from(["none", "truncate", "insert", "duplicate"]))
    if mutation == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif mutation == "insert":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(max_size=5)) + text[at:]
    elif mutation == "duplicate":
        text = text + text
    return text


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4), max_leaves=12)


@st.composite
def cpu_infos(draw):
    """Nova cpu_info values: mostly right-shaped, often wrong-typed."""
    info = {"arch": draw(st.one_of(st.just("x86_64"), json_values)),
            "model": draw(st.one_of(models, json_values)),
            "vendor": draw(st.one_of(st.sampled_from(["Intel", "AMD"]), json_values)),
            "features": draw(st.one_of(st.lists(names, max_size=8), json_values))}
    for key in draw(st.lists(st.sampled_from(list(info)), max_size=2, unique=True)):
        del info[key]
    form = draw(st.sampled_from(["dict", "json", "broken-json", "raw"]))
    if form == "json":
        return json.dumps(info)
    if form == "broken-json":
        return json.dumps(info)[: draw(st.integers(0, 20))]
    if form == "raw":
        return draw(json_values)
    return info


def only_cpucompat_errors(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except cpucompat.CpuCompatError:
        return None


@FUZZ
@given(cpu_xml())
def test_parsing_any_cpu_xml_raises_only_cpucompat_errors(text):
    cpus = only_cpucompat_errors(cpucompat.parse_cpus, text, "fuzz.xml", MAP)
    for cpu in cpus or ():
        only_cpucompat_errors(cpucompat.expand, cpu, MAP)
        only_cpucompat_errors(cpucompat.host_model, cpu, MAP)


@FUZZ
@given(cpu_xml(), cpu_xml())
def test_compare_and_baseline_of_any_pair_raise_only_cpucompat_errors(a, b):
    first = only_cpucompat_errors(cpucompat.parse_cpus, a, "a.xml", MAP)
    second = only_cpucompat_errors(cpucompat.parse_cpus, b, "b.xml", MAP)
    if first and second:
        only_cpucompat_errors(cpucompat.compare, first[0], second[0], MAP)
        only_cpucompat_errors(cpucompat.baseline, [first[0], second[0]], MAP)


@FUZZ
@given(cpu_infos())
def test_any_cpu_info_parses_or_raises_cpucompat_error(value):
    if isinstance(value, (str, dict)):
        only_cpucompat_errors(cpucompat.parse_cpu_info, value, "cpu_info", MAP)


PLACEMENT = CpuPlacement(CpuPolicy("host-model", (), (), MAP, "exact", True))


@FUZZ
@given(cpu_infos(), st.dictionaries(st.sampled_from(["cpucompat:cpu_mode", "cpucompat:cpu_model",
                                                      "cpucompat:cpu_flags", "trait:HW_CPU_X86_AVX2",
                                                      "trait:HW_CPU_X86_SSE42", "hw:whatever"]),
                                    st.one_of(st.text(max_size=12),
                                              st.sampled_from(["custom", "required", "forbidden", "Nehalem",
                                                               "+avx,-mpx", "host-passthrough"])), max_size=4))
def test_scheduling_never_raises(cpu_info, extra_specs):
    try:
        request = PLACEMENT.request(extra_specs)
    except cpucompat.CpuCompatError:
        return
    decision = PLACEMENT.decide(request, cpu_info)
    assert isinstance(decision.passes, bool) and decision.reason


@FUZZ
@given(st.dictionaries(st.text(max_size=6), st.one_of(cpu_infos(), cpu_xml()), max_size=6))
def test_inventories_report_every_bad_host_and_drop_none(tmp_path_factory, hosts):
    from cpucompat.planner.fleet import Fleet

    path = tmp_path_factory.mktemp("inv") / "inventory.json"
    path.write_text(json.dumps({"hosts": hosts}, default=str))
    try:
        fleet = Fleet.load(path, MAP)
    except cpucompat.CpuCompatError:
        assert not hosts
        return
    assert set(fleet.hosts) | set(fleet.failures) == set(hosts)
    fleet.domains()
