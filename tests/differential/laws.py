"""The differential laws, for any libvirt release and its map.

Each law draws a case from the map of the release under test (so new models
and features are drawn too), asks that release's libvirt (an `ask` function:
a case dict in, libvirt's JSON answer out, see oracle.py) and cpucompat
loaded with the same map, and returns the differences as short *keys*, one
per rule-sized difference ("expanded: only cpucompat has ht"), empty when
both agree.  Keys group disagreements into rules and let the long run
minimise one example per key.

The strategies have the shape of tests/test_libvirt_differential.py's
(which draws from the embedded map only): host CPUs of every vendor, guests
of every mode, match, check, fallback and policy; added here, raw CPUID
dumps near a model for the decode law.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from hypothesis import strategies as st

import cpucompat
from cpucompat.engine.cpuid import encode_dump
from cpucompat.engine.hypervisor import compare_hypervisor
from cpucompat.inputs.domcaps import parse_domcaps
from cpucompat.inputs.parse import parse_cpus

Ask = Callable[[dict], dict]

COMMON_FEATURES = ["sse4.1", "sse4.2", "ssse3", "popcnt", "aes", "avx", "avx2", "x2apic", "hypervisor",
                   "svm", "vmx", "lm", "nx", "invtsc", "pdpe1gb", "rdtscp", "xsave", "osxsave", "abm",
                   "ht", "cmp_legacy", "mpx", "monitor", "intel-pt", "xsaves", "tsc-deadline",
                   "arch-capabilities"]
VENDORS = ["Intel", "AMD", "Hygon"]
POLICIES = ["force", "require", "optional", "disable", "forbid"]
RESULTS = ("incompatible", "identical", "superset")


class Draw:
    """The strategies over one map's x86 models and features."""

    def __init__(self, cpumap: cpucompat.CpuMap) -> None:
        x86 = cpumap.x86
        self.map = cpumap
        self.models = list(x86.models)
        self.features = [f.name for f in x86.features]
        self.common = [n for n in COMMON_FEATURES if n in x86.feature_by_name]
        self.small_models = [m for m in self.models if m.features.bit_count() <= 40]
        self.vendors = [v for v in VENDORS if v in x86.vendors]

    def feature(self) -> st.SearchStrategy[str]:
        return st.one_of(st.sampled_from(self.features), st.sampled_from(self.common))

    def host_cpu(self, arches: tuple[str, ...] = ("x86_64",)) -> st.SearchStrategy[str]:
        @st.composite
        def draw(draw):  # type: ignore[no-untyped-def]
            model = draw(st.sampled_from(self.models))
            vendor = draw(st.sampled_from(["model", "model", "none", "any"]))
            if vendor == "model":
                cpu_vendor = model.vendor or draw(st.sampled_from([None] + self.vendors))
            elif vendor == "none":
                cpu_vendor = None
            else:
                cpu_vendor = draw(st.sampled_from(self.vendors))
            extra = draw(st.lists(self.feature(), max_size=8, unique=True))
            lines = ["<cpu>", f"  <arch>{draw(st.sampled_from(arches))}</arch>", f"  <model>{model.name}</model>"]
            if cpu_vendor:
                lines.append(f"  <vendor>{cpu_vendor}</vendor>")
            lines += [f"  <feature name='{name}'/>" for name in extra] + ["</cpu>"]
            return "\n".join(lines)
        return draw()

    def guest_cpu(self) -> st.SearchStrategy[str]:
        @st.composite
        def draw(draw):  # type: ignore[no-untyped-def]
            mode = draw(st.sampled_from([None, "custom", "custom", "host-model", "host-passthrough", "maximum"]))
            custom = mode in (None, "custom")
            has_model = draw(st.integers(0, 9)) > (0 if custom else 6)
            model = draw(st.one_of(st.sampled_from(self.models), st.sampled_from(self.small_models)))
            attrs = ""
            for name, values in (("mode", [mode]), ("match", [None, None, "minimum", "exact", "strict"]),
                                 ("check", [None, None, "none", "partial", "full"]),
                                 ("migratable", [None, None, None, "on", "off"])):
                value = draw(st.sampled_from(values))
                if value:
                    attrs += f" {name}='{value}'"
            lines = [f"<cpu{attrs}>"]
            if has_model:
                fallback = draw(st.sampled_from([None, None, "allow", "forbid"]))
                model_attrs = f" fallback='{fallback}'" if fallback else ""
                lines.append(f"  <model{model_attrs}>{model.name}</model>")
                vendor = draw(st.sampled_from([None, None] + self.vendors))
                if vendor:
                    lines.append(f"  <vendor>{vendor}</vendor>")
            elif custom and draw(st.integers(0, 5)) == 0:
                lines.append(f"  <vendor>{draw(st.sampled_from(self.vendors))}</vendor>")
            features = draw(st.lists(st.tuples(self.feature(), st.sampled_from(POLICIES)),
                                     max_size=6, unique_by=lambda f: f[0]))
            lines += [f"  <feature policy='{p}' name='{n}'/>" for n, p in features] + ["</cpu>"]
            return "\n".join(lines)
        return draw()

    def cpuid_dump(self) -> st.SearchStrategy[str]:
        """A raw CPUID dump near a model: its features, a few dropped, a few
        added; its vendor, none or another; one of its signatures, another
        model's, or none."""
        x86 = self.map.x86

        @st.composite
        def draw(draw):  # type: ignore[no-untyped-def]
            model = draw(st.sampled_from(self.models))
            own = x86.names(model.features)
            dropped = draw(st.lists(st.sampled_from(own), max_size=4, unique=True)) if own else []
            extra = draw(st.lists(self.feature(), max_size=8, unique=True))
            bits = (model.features & ~x86.known_mask(dropped)) | x86.known_mask(extra)
            vendor = draw(st.sampled_from(["model", "model", "none", "any"]))
            if vendor == "model":
                cpu_vendor = model.vendor
            elif vendor == "none":
                cpu_vendor = None
            else:
                cpu_vendor = draw(st.sampled_from(self.vendors))
            signature = None
            which = draw(st.sampled_from(["model", "model", "other", "none"]))
            source = model if which == "model" else draw(st.sampled_from(self.models))
            if which != "none" and source.signatures:
                sig = draw(st.sampled_from(source.signatures))
                stepping = draw(st.sampled_from(sorted(sig.steppings))) if sig.steppings else draw(st.integers(0, 15))
                signature = (sig.family, sig.model, stepping)
            return encode_dump(x86, bits, cpu_vendor, signature).to_xml()
        return draw()


# -- comparing answers ---------------------------------------------------------

def _error_key(side: str, message: str) -> str:
    message = re.sub(r"'[^']*'", "'…'", message.split("\n")[0])
    message = re.sub(r"\b(model|vendor|vendors|feature) [A-Za-z0-9_.-]+", r"\1 …", message)
    message = re.sub(r"\d+", "N", message)
    return f"error only in {side}: {message[:90]}"


def _sets(cpu: cpucompat.Cpu) -> tuple[set[str], set[str]]:
    return ({n for n, p in cpu.features if p in ("require", "force")},
            {n for n, p in cpu.features if p in ("disable", "forbid")})


def _feature_keys(field: str, ours: set[str], theirs: set[str]) -> list[str]:
    return ([f"{field}: only cpucompat has {n}" for n in sorted(ours - theirs)]
            + [f"{field}: only libvirt has {n}" for n in sorted(theirs - ours)])


def _model_key(cpumap: cpucompat.CpuMap, ours: str | None, theirs: str | None) -> str:
    x86 = cpumap.x86
    a, b = x86.model_by_name.get(ours or ""), x86.model_by_name.get(theirs or "")
    if a is not None and b is not None and (a.alias_of == b.name or b.alias_of == a.name
                                           or (a.alias_of and a.alias_of == b.alias_of)):
        return "model: the same model under its other name (-vN alias / canonical)"
    if b is not None and b.alias_of:
        return "model: libvirt answers a -vN alias of a different model"
    return "model differs"


@dataclass
class Outcome:
    keys: list[str]
    detail: str


def _answer_cpu(answer: dict, cpumap: cpucompat.CpuMap) -> cpucompat.Cpu:
    return parse_cpus(answer["xml"], "libvirt", cpumap)[0]


def _expansion_keys(cpumap: cpucompat.CpuMap, ours: cpucompat.Expansion, want: cpucompat.Cpu, *,
                    expanded: bool, vendor: bool = True, fallback: bool = True) -> list[str]:
    required, disabled = _sets(want)
    if ours.model != want.model:
        return [_model_key(cpumap, ours.model, want.model)]
    keys = []
    if vendor and ours.vendor != want.vendor:
        keys.append(f"vendor: libvirt {want.vendor}, cpucompat {ours.vendor}")
    keys += _feature_keys("expanded" if expanded else "features",
                          set(ours.expanded if expanded else ours.features), required)
    keys += _feature_keys("disabled", set(ours.disabled), disabled)
    if fallback and (ours.fallback == "forbid") != (want.fallback == "forbid"):
        keys.append(f"fallback: libvirt {want.fallback}, cpucompat {ours.fallback}")
    return keys


def _both(answer: dict, ours: object) -> list[str] | None:
    """Keys when either side refused; None when both answered."""
    theirs_failed = not answer["ok"]
    ours_failed = isinstance(ours, Exception)
    if theirs_failed and ours_failed:
        return []
    if theirs_failed:
        return [_error_key("libvirt", answer["error"])]
    if ours_failed:
        return [_error_key("cpucompat", f"{type(ours).__name__}: {ours}")]
    return None


def _try(call: Callable[[], object]) -> object:
    try:
        return call()
    except cpucompat.CpuCompatError as exc:
        return exc


# -- the laws ------------------------------------------------------------------

class Law:
    name = ""

    def __init__(self, draw: Draw, ask: Ask) -> None:
        self.draw = draw
        self.map = draw.map
        self.ask = ask

    def strategy(self) -> st.SearchStrategy:
        raise NotImplementedError

    def check(self, case: object) -> Outcome:
        raise NotImplementedError


class Baseline(Law):
    """baselineCPU(group, flags) vs cpucompat.baseline."""

    name = "baseline"

    def strategy(self) -> st.SearchStrategy:
        return st.tuples(st.lists(self.draw.host_cpu(), min_size=1, max_size=5),
                         st.sampled_from([(), ("expand",), ("migratable",), ("expand", "migratable")]))

    def check(self, case: object) -> Outcome:
        group, flags = case  # type: ignore[misc]
        answer = self.ask({"op": "baseline", "xmls": group, "flags": list(flags)})

        def ours_() -> object:
            cpus = [parse_cpus(x, "drawn", self.map)[0] for x in group]
            return cpucompat.baseline(cpus, self.map, migratable="migratable" in flags)
        ours = _try(ours_)
        keys = _both(answer, ours)
        if keys is None:
            want = _answer_cpu(answer, self.map)
            keys = _expansion_keys(self.map, ours, want, expanded="expand" in flags)  # type: ignore[arg-type]
        return Outcome(keys, f"flags={list(flags)} libvirt={answer.get('xml') or answer.get('error')}")


class Expand(Law):
    """baselineCPU([cpu], EXPAND_FEATURES[|MIGRATABLE]) vs cpucompat.expand."""

    name = "expand"
    migratable = False

    def strategy(self) -> st.SearchStrategy:
        return self.draw.host_cpu()

    def check(self, case: object) -> Outcome:
        flags = ["expand"] + (["migratable"] if self.migratable else [])
        answer = self.ask({"op": "baseline", "xmls": [case], "flags": flags})
        ours = _try(lambda: cpucompat.expand(parse_cpus(case, "drawn", self.map)[0], self.map,  # type: ignore[arg-type]
                                             migratable=self.migratable))
        keys = _both(answer, ours)
        if keys is None:
            keys = _expansion_keys(self.map, ours, _answer_cpu(answer, self.map), expanded=True,  # type: ignore[arg-type]
                                   vendor=False, fallback=False)
        return Outcome(keys, f"libvirt={answer.get('xml') or answer.get('error')}")


class Migratable(Expand):
    """The same with MIGRATABLE, on CPUs that often carry non-migratable
    features (invtsc, xsaves)."""

    name = "migratable"
    migratable = True

    def strategy(self) -> st.SearchStrategy:
        @st.composite
        def draw(draw):  # type: ignore[no-untyped-def]
            xml = draw(self.draw.host_cpu())
            extra = [n for n in ("invtsc", "xsaves", "ht") if n in self.map.x86.feature_by_name
                     and f"'{n}'" not in xml and draw(st.booleans())]
            return xml.replace("</cpu>", "".join(f"  <feature name='{n}'/>\n" for n in extra) + "</cpu>")
        return draw()


class CompareHost(Law):
    """virConnectCompareCPU as a machine with the drawn host CPU answers
    it (virCPUCompareXML) vs cpucompat.compare."""

    name = "compare"

    def strategy(self) -> st.SearchStrategy:
        guests = st.one_of(self.draw.guest_cpu(), self.draw.host_cpu(("x86_64", "x86_64", "i686", "aarch64")))
        return st.tuples(self.draw.host_cpu(), guests)

    def check(self, case: object) -> Outcome:
        host, guest = case  # type: ignore[misc]
        answer = self.ask({"op": "compare_host", "xmls": [host, guest]})
        ours = _try(lambda: cpucompat.compare(parse_cpus(guest, "drawn", self.map)[0],
                                              parse_cpus(host, "host", self.map)[0], self.map).result)
        keys = _both(answer, ours)
        if keys is None and ours != answer["result"]:
            keys = [f"compare: libvirt {answer['result']}, cpucompat {ours}"]
        return Outcome(keys or [], f"libvirt={answer.get('result') or answer.get('error')} cpucompat={ours}")


class Decode(Law):
    """cpuDecode of a raw CPUID dump, as host (capabilities) or guest
    (match exact, fallback forbid) CPU, vs cpucompat.decode."""

    name = "decode"

    def strategy(self) -> st.SearchStrategy:
        return st.tuples(self.draw.cpuid_dump(), st.booleans())

    def check(self, case: object) -> Outcome:
        dump_xml, guest = case  # type: ignore[misc]
        answer = self.ask({"op": "decode", "xmls": [dump_xml], "flags": ["guest"] if guest else []})
        dump = cpucompat.parse_cpuid_dumps(dump_xml, "drawn")[0]
        ours = _try(lambda: cpucompat.decode(dump, self.map, guest=guest))
        keys = _both(answer, ours)
        if keys is None:
            want = _answer_cpu(answer, self.map)
            kind = "guest" if guest else "host"
            keys = [f"{kind} {k}" for k in _expansion_keys(self.map, ours, want, expanded=False,  # type: ignore[arg-type]
                                                           fallback=False)]
            if not keys and ours.signature != want.signature and want.signature is not None:  # type: ignore[union-attr]
                keys.append(f"{kind} signature differs")
        return Outcome(keys, f"guest={guest} libvirt={answer.get('xml') or answer.get('error')}")


class CompareHypervisor(Law):
    """virConnectCompareHypervisorCPU for KVM (Nova's check before a live
    migration since Nova 27) vs cpucompat.engine.hypervisor.compare_hypervisor
    with the host-model CPU and the CPU models (usable, blockers) of the same
    libvirt's domain capabilities (QEMU probed on this machine).

    libvirt 9.0.0 compares with that host-model CPU (virCPUCompareXML);
    from 10.9.0 on qemuDomainCheckCPU first asks whether QEMU calls the
    model usable and judges models without <check partial='compat'/> by
    their blockers (R7 in docs/research/libvirt-releases.md)."""

    name = "hvcompare"
    domcaps: ClassVar[dict[int, tuple[cpucompat.Cpu, cpucompat.HypervisorModels]]] = {}

    def strategy(self) -> st.SearchStrategy:
        return st.one_of(self.draw.guest_cpu(), self.draw.host_cpu())

    def _hypervisor(self) -> tuple[cpucompat.Cpu, cpucompat.HypervisorModels]:
        key = id(self.ask)
        if key not in self.domcaps:
            answer = self.ask({"op": "domcaps"})
            self.domcaps[key] = parse_domcaps(answer["xml"], "domcaps", self.map)
        return self.domcaps[key]

    def check(self, case: object) -> Outcome:
        answer = self.ask({"op": "compare_hv", "xmls": [case]})
        host_model, models = self._hypervisor()
        ours = _try(lambda: compare_hypervisor(parse_cpus(case, "drawn", self.map)[0], host_model,  # type: ignore[arg-type]
                                               models, self.map).result)
        keys = _both(answer, ours)
        if keys is None and ours != answer["result"]:
            keys = [f"compare_hv: libvirt {answer['result']}, cpucompat {ours}"]
        return Outcome(keys or [], f"libvirt={answer.get('result') or answer.get('error')} cpucompat={ours}")


class HypervisorModelCases(CompareHypervisor):
    """virConnectCompareHypervisorCPU for the guests that tell its rules
    apart: every model QEMU calls usable (plain: step 1; with a required
    feature: step 2), and every offered model the map gives no
    <check partial='compat'/> and two that have it (plain, and with each
    blocker disabled and a required feature the host-model CPU has, or one
    it lacks: step 3, or step 2 for the latter); each model also as a host
    CPU (<arch>), whose features libvirt gives no policy."""

    name = "hvmodels"

    def cases(self) -> list:
        host_model, models = self._hypervisor()
        x86 = self.map.x86
        has = sorted(name for name, policy in host_model.features if policy == "require")
        lacks = sorted(set(self.draw.common) - set(has) - {"osxsave", "ht", "cmp_legacy"})
        # models the 11.3.0/12.8.0 maps give no <check partial='compat'/>
        # (step 3), and two that have it (step 2 when unusable), asked of
        # every release that has them
        asked = {"Denverton", "KnightsMill", "EPYC-Turin", "YongFeng", "DiamondRapids", "ClearwaterForest",
                 "Haswell-v1", "Haswell-v4", "Skylake-Server-v4", "SapphireRapids-v1", "EPYC-v4",
                 "Haswell", "Skylake-Server"}
        out = []
        for name, blockers in models.blockers:
            model = x86.find_model(name)
            if model is None:
                continue
            plain = f"<cpu><model>{name}</model></cpu>"
            # the same model as a host CPU (<arch>): libvirt gives its features no policy
            as_host = f"<cpu><arch>x86_64</arch><model>{name}</model><feature name='{lacks[0]}'/></cpu>"
            if models.usable(name):
                out += [plain, f"<cpu><model>{name}</model><feature policy='require' name='{lacks[0]}'/></cpu>",
                        as_host]
            elif name in asked:
                names = [x86.canonical_feature(b) for b in blockers if x86.canonical_feature(b)]
                disabled = "".join(f"<feature policy='disable' name='{n}'/>" for n in names)
                lacking = next(n for n in lacks if n not in names)
                out += [plain, f"<cpu><model>{name}</model>{disabled}<feature policy='require' name='{has[-1]}'/></cpu>",
                        f"<cpu><model>{name}</model>{disabled}<feature policy='require' name='{lacking}'/></cpu>",
                        as_host]
        return out


LAWS = {law.name: law for law in (Baseline, Expand, Migratable, CompareHost, Decode, CompareHypervisor)}


# -- exhaustive checks (every case, no drawing) ----------------------------------

class EveryModel(Law):
    """Every model of the map, with its own vendor, expanded plainly and
    for migration: baselineCPU([model], EXPAND_FEATURES[|MIGRATABLE])."""

    name = "models"

    def cases(self) -> list:
        out = []
        for model in self.map.x86.models:
            vendor = f"<vendor>{model.vendor}</vendor>" if model.vendor else ""
            xml = f"<cpu><arch>x86_64</arch><model>{model.name}</model>{vendor}</cpu>"
            out += [(xml, False), (xml, True)]
        return out

    def check(self, case: object) -> Outcome:
        xml, migratable = case  # type: ignore[misc]
        law = Migratable(self.draw, self.ask) if migratable else Expand(self.draw, self.ask)
        outcome = law.check(xml)
        return Outcome([f"{'migratable' if migratable else 'expand'} {k}" for k in outcome.keys], outcome.detail)


class RealDumps(Law):
    """Every raw CPUID dump of libvirt's own test data (any release's), as
    host and as guest CPU: real CPUs, decoded with this map."""

    name = "dumps"
    dumps: ClassVar[tuple[tuple[str, str], ...]] = ()  # (file name, XML), set by the runner

    def cases(self) -> list:
        return [(name, xml, guest) for name, xml in self.dumps for guest in (False, True)]

    def check(self, case: object) -> Outcome:
        name, xml, guest = case  # type: ignore[misc]
        outcome = Decode(self.draw, self.ask).check((xml, guest))
        return Outcome(outcome.keys, f"{name}: {outcome.detail}")


class EveryFeature(Law):
    """Every feature of the map alone beside the smallest model (486), in a
    plain, an expanded and a migratable baseline: which features each
    release filters or drops, one by one."""

    name = "features"

    def cases(self) -> list:
        flags = [(), ("expand",), ("expand", "migratable")]
        return [([f"<cpu><arch>x86_64</arch><model>486</model><feature name='{name}'/></cpu>"], flag)
                for name in self.draw.features for flag in flags]

    def check(self, case: object) -> Outcome:
        return Baseline(self.draw, self.ask).check(case)


EXHAUSTIVE = {law.name: law for law in (EveryModel, EveryFeature, RealDumps, HypervisorModelCases)}
