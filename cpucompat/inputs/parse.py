"""Every way a host or guest CPU is described, read into `Cpu` values.

The format is detected from content, never from the file name:

* libvirt XML: a ``<cpu>`` (guest or host), several concatenated ones, a
  ``<capabilities>`` (host CPU), ``<domainCapabilities>`` (the host-model
  CPU), a ``<domain>``, ``virsh cpu-baseline`` output, any wrapper of
  ``<cpu>`` elements (``<cpuTest>``), and raw CPUID dumps
  (``<cpudata arch='x86'>``);
* Nova's ``ComputeNode.cpu_info`` JSON (string or dict, or a list of them);
* Linux ``/proc/cpuinfo`` (read by `cpucompat.inputs.cpuinfo`).

Parsing follows libvirt's virCPUDefParseXML rules (host CPU ⇔ ``<arch>``
present; guest defaults mode=custom, match=exact, policy=require) and
raises InvalidCpuXml naming the input for what libvirt refuses.
"""
from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Iterable

from lxml import etree

from ..engine.decode import decode
from ..engine.cpu import Cpu
from ..engine.rules import CHECKS, FALLBACKS, MATCHES, MODES, POLICIES
from ..engine.cpuid import CpuidDump
from ..display import shown
from ..engine.cpumap import CpuMap, resolve_map
from ..engine.hostcpu import readable_host
from ..errors import InvalidCpuXml, UnknownInputFormat
from ..safefile import read_regular
from ..xmlsafe import MAX_BYTES, parse_xml, parse_xml_fragments
from .cpuinfo import parse_proc_cpuinfo

if TYPE_CHECKING:
    from pathlib import Path  # paths may be either; pathlib is not imported to read one

__all__ = ["FORMATS", "read_text", "detect_format", "read_cpus", "parse_cpus", "read_cpuid_dumps",
           "parse_cpuid_dumps", "decoded_host_cpu", "cpuid_dump_from_element", "cpu_from_element",
           "parse_cpu_info_json", "parse_cpu_info"]

FORMATS = ("xml", "cpu_info", "proc_cpuinfo")
# libvirt's model, vendor and feature names are a few dozen characters, a
# cpu_info lists ~100 features: anything far beyond is refused, not echoed
MAX_NAME_CHARS = 200
MAX_CPU_INFO_FEATURES = 4096


def read_text(path: str | Path, *, max_bytes: int = MAX_BYTES) -> str:
    """A regular file's text, refusing what is too large, not a regular file or not text."""
    data = read_regular(path, max_bytes=max_bytes, error=InvalidCpuXml)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnknownInputFormat(f"not UTF-8 text (byte {exc.start})", source=str(path)) from None


def detect_format(text: str, source: str | None = None) -> str:
    """'xml', 'cpu_info' or 'proc_cpuinfo', from the content alone."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("<"):
        return "xml"
    if stripped.startswith(("{", "[", '"')):
        return "cpu_info"
    if re.search(r"^(flags|Features|vendor_id|processor)\s*:", text, re.M):
        return "proc_cpuinfo"
    raise UnknownInputFormat("content is neither libvirt XML, Nova cpu_info JSON nor /proc/cpuinfo",
                             source=source)


def read_cpus(path: str | Path, cpumap: CpuMap | None = None) -> list[Cpu]:
    """Every CPU described in a file (raw CPUID dumps become host CPUs)."""
    return parse_cpus(read_text(path), str(path), cpumap)


def parse_cpus(text: str, source: str = "<input>", cpumap: CpuMap | None = None) -> list[Cpu]:
    """Every CPU described in `text`; see the module docstring for formats."""
    cpumap = resolve_map(cpumap)
    kind = detect_format(text, source)
    if kind == "cpu_info":
        return parse_cpu_info_json(text, source, cpumap)
    if kind == "proc_cpuinfo":
        return [parse_proc_cpuinfo(text, source, cpumap)]
    cpus: list[Cpu] = []
    for element in _top_elements(text, source):
        cpus.extend(_cpus_in_element(element, source, cpumap))
    if not cpus:
        raise UnknownInputFormat("XML holds no <cpu> or <cpudata> element", source=source)
    return cpus


def read_cpuid_dumps(path: str | Path) -> list[CpuidDump]:
    """Every raw CPUID dump (``<cpudata arch='x86'>``) in a file."""
    return parse_cpuid_dumps(read_text(path), str(path))


def parse_cpuid_dumps(text: str, source: str = "<input>") -> list[CpuidDump]:
    dumps = []
    for element in _top_elements(text, source):
        for data in _iter_tag(element, "cpudata"):
            dumps.append(cpuid_dump_from_element(data, source))
    if not dumps:
        raise UnknownInputFormat("holds no raw CPUID dump (<cpudata arch='x86'>)", source=source)
    return dumps


# -- XML -------------------------------------------------------------------

def _top_elements(text: str, source: str) -> list[etree._Element]:
    try:
        return [parse_xml(text, source)]
    except InvalidCpuXml as exc:
        if "Extra content" not in str(exc) and "junk after" not in str(exc):
            raise
    wrapper = parse_xml_fragments(text, source)
    return list(wrapper)


def _iter_tag(element: etree._Element, tag: str) -> Iterable[etree._Element]:
    if element.tag == tag:
        return [element]
    found: Iterable[etree._Element] = element.iter(tag)  # lxml ships no type hints
    return found


def _cpus_in_element(root: etree._Element, source: str, cpumap: CpuMap) -> list[Cpu]:
    tag = root.tag
    if tag == "capabilities":
        return [_required_cpu(root, "host/cpu", "capabilities XML has no <host><cpu>", source, cpumap)]
    if tag == "domainCapabilities":
        return [domcaps_host_model(root, source, cpumap)]
    if tag == "domain":
        return [_required_cpu(root, "cpu", "domain XML has no <cpu> element", source, cpumap)]
    if tag == "cpudata":
        return [decoded_host_cpu(cpuid_dump_from_element(root, source), cpumap)]
    if tag == "cpu":
        return [cpu_from_element(root, source, cpumap)]
    found: list[Cpu] = []
    for child in root.iter("cpu", "cpudata", "capabilities", "domainCapabilities"):
        if child is root:
            continue
        if child.tag == "cpu" and any(a.tag in ("capabilities", "domainCapabilities", "cpu")
                                      for a in child.iterancestors()):
            continue
        if child.tag == "cpudata" and any(a.tag == "cpudata" for a in child.iterancestors()):
            continue
        found.extend(_cpus_in_element(child, source, cpumap))
    return found


def _required_cpu(root: etree._Element, path: str, missing: str, source: str, cpumap: CpuMap) -> Cpu:
    """The ``<cpu>`` at `path` under `root`, refused with `missing` when absent."""
    cpu = root.find(path)
    if cpu is None:
        raise InvalidCpuXml(missing, source=source)
    return cpu_from_element(cpu, source, cpumap)


def decoded_host_cpu(dump: CpuidDump, cpumap: CpuMap) -> Cpu:
    """The host CPU libvirt's capabilities show for raw CPUID data."""
    return replace(decode(dump, cpumap).as_cpu(host=True), source=dump.source)


def cpuid_dump_from_element(element: etree._Element, source: str) -> CpuidDump:
    """A ``<cpudata arch='x86'>`` element as a CpuidDump."""
    arch = element.get("arch", "x86")
    if arch != "x86":
        raise InvalidCpuXml(f"raw CPU data for arch '{arch}' is not supported (only x86)", source=source)
    leaves = []
    msrs = []
    for item in element:
        if item.tag == "cpuid":
            leaf = (_hex(item, "eax_in", source, required=True), _hex(item, "ecx_in", source))
            registers = (_hex(item, "eax", source), _hex(item, "ebx", source), _hex(item, "ecx", source),
                         _hex(item, "edx", source))
            leaves.append((leaf, registers))
        elif item.tag == "msr":
            msrs.append((_hex(item, "index", source, required=True),
                         (_hex(item, "eax", source), _hex(item, "edx", source))))
    if not leaves:
        raise InvalidCpuXml("<cpudata> holds no <cpuid> leaves", source=source)
    return CpuidDump(tuple(leaves), tuple(msrs), source=source)


def _hex(item: etree._Element, attr: str, source: str, *, required: bool = False) -> int:
    value = item.get(attr)
    if value is None:
        if required:
            raise InvalidCpuXml(f"<{item.tag}> misses attribute {attr} (line {item.sourceline})", source=source)
        return 0
    try:
        number = int(value, 0)
    except ValueError:
        raise InvalidCpuXml(f"<{item.tag} {attr}='{value}'> is not a number (line {item.sourceline})",
                            source=source) from None
    if not 0 <= number <= 0xFFFFFFFF:
        raise InvalidCpuXml(f"<{item.tag} {attr}='{value}'> is out of range (line {item.sourceline})",
                            source=source)
    return number


def domcaps_host_model(root: etree._Element, source: str, cpumap: CpuMap) -> Cpu:
    mode = root.find("cpu/mode[@name='host-model']")
    if mode is None or mode.find("model") is None:
        raise InvalidCpuXml("domain capabilities XML has no host-model CPU", source=source)
    if mode.get("supported") == "no":
        raise InvalidCpuXml("domain capabilities say host-model is not supported", source=source)
    model_el = mode.find("model")
    vendor_el = mode.find("vendor")
    features = _features(mode, source, cpumap, host=False)
    return Cpu(model=_model_name(model_el.text, cpumap, source),
               vendor=vendor_el.text.strip() if vendor_el is not None and vendor_el.text else None,
               features=features, mode="custom", match="exact",
               fallback=model_el.get("fallback", "allow"), source=source)


def cpu_from_element(el: etree._Element, source: str, cpumap: CpuMap | None = None) -> Cpu:
    """One ``<cpu>`` element as libvirt's virCPUDefParseXML would read it."""
    cpumap = resolve_map(cpumap)
    where = f"{source}:{el.sourceline}" if el.sourceline else source
    arch_el = el.find("arch")
    model_el = el.find("model")
    vendor_el = el.find("vendor")
    model = _model_name(model_el.text, cpumap, where) if model_el is not None and model_el.text else None
    vendor = vendor_el.text.strip() if vendor_el is not None and vendor_el.text else None
    signature = _signature(el.find("signature"), where)
    if arch_el is not None:
        for attr in ("mode", "match"):
            if el.get(attr) is not None:
                raise InvalidCpuXml(f"attribute {attr} is only allowed for guest CPU", source=where)
        arch = (arch_el.text or "").strip()
        if not arch:
            raise InvalidCpuXml("<arch> is empty", source=where)
        if model is None:
            raise InvalidCpuXml("missing CPU model name", source=where)
        return Cpu(model=model, vendor=vendor, arch=arch, match=None, signature=signature,
                   features=_features(el, where, cpumap, host=True), source=where)
    mode = el.get("mode", "custom")
    if mode not in MODES:
        raise InvalidCpuXml(f"invalid CPU mode '{mode}'", source=where)
    match = el.get("match")
    if match is not None and match not in MATCHES:
        raise InvalidCpuXml(f"invalid CPU match '{match}'", source=where)
    if match is None and mode == "custom":
        match = "exact"
    check = el.get("check")
    if check is not None and check not in CHECKS:
        raise InvalidCpuXml(f"invalid CPU check '{check}'", source=where)
    fallback = model_el.get("fallback", "allow") if model_el is not None else "allow"
    if fallback not in FALLBACKS:
        raise InvalidCpuXml(f"invalid fallback '{fallback}'", source=where)
    migratable_attr = el.get("migratable")
    if migratable_attr is not None and mode not in ("host-passthrough", "maximum"):
        raise InvalidCpuXml("attribute migratable is only allowed for host-passthrough / maximum CPU mode",
                            source=where)
    features = _features(el, where, cpumap, host=False)
    if model is None:
        if vendor:  # libvirt's virCPUDefParseXML, whatever the mode
            raise InvalidCpuXml("CPU vendor specified without CPU model", source=where)
        if mode == "custom" and features:
            raise InvalidCpuXml("non-empty feature list specified without CPU model", source=where)
    return Cpu(model=model, vendor=vendor, features=features, mode=mode, match=match, check=check,
               fallback=fallback, signature=signature,
               migratable=None if migratable_attr is None else migratable_attr == "on",
               source=where)


def _model_name(text: str, cpumap: CpuMap, where: str) -> str:
    name = text.strip()
    model = cpumap.find_model(name)
    return model.name if model is not None else name  # unknown: compare/baseline report it against the map


def _features(el: etree._Element, where: str, cpumap: CpuMap, *, host: bool) -> tuple[tuple[str, str], ...]:
    seen: dict[str, str] = {}
    x86 = cpumap.arches.get("x86")
    for f in el.findall("feature"):
        name = f.get("name")
        if not name:
            raise InvalidCpuXml(f"invalid CPU feature name (line {f.sourceline})", source=where)
        if host:
            policy = "require"
        else:
            policy = f.get("policy", "require")
            if policy not in POLICIES:
                raise InvalidCpuXml(f"invalid CPU feature policy '{policy}' for {name}", source=where)
        canonical = (x86.canonical_feature(name) if x86 else None) or name
        if canonical in seen:
            raise InvalidCpuXml(f"CPU feature '{name}' specified more than once", source=where)
        seen[canonical] = policy
    return tuple(seen.items())


def _signature(el: etree._Element | None, where: str) -> tuple[int, int, int] | None:
    if el is None:
        return None
    try:
        return (int(el.get("family", "0"), 0), int(el.get("model", "0"), 0), int(el.get("stepping", "0"), 0))
    except ValueError:
        raise InvalidCpuXml("invalid <signature> numbers", source=where) from None


# -- Nova cpu_info -----------------------------------------------------------

def _json(text: str, source: str, problem: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnknownInputFormat(f"{problem}: {exc}", source=source) from None
    except ValueError:  # Python reads integers of at most 4300 digits (sys.get_int_max_str_digits)
        raise UnknownInputFormat(f"{problem}: holds an integer too long to read", source=source) from None
    except RecursionError:
        raise UnknownInputFormat(f"{problem}: nested too deeply", source=source) from None


def parse_cpu_info_json(text: str, source: str, cpumap: CpuMap | None = None) -> list[Cpu]:
    value = _json(text, source, "invalid JSON")
    if isinstance(value, str):  # cpu_info stored as a JSON string inside JSON
        return parse_cpu_info_json(value, source, cpumap)
    items = value if isinstance(value, list) else [value]
    return [parse_cpu_info(item, f"{source}[{i}]" if isinstance(value, list) else source, cpumap)
            for i, item in enumerate(items)]


def parse_cpu_info(value: str | dict[str, Any], source: str = "cpu_info",
                   cpumap: CpuMap | None = None) -> Cpu:
    """Nova's ``ComputeNode.cpu_info`` (JSON text or dict) as a host CPU.

    Feature names the map does not know are left out of the feature set
    (a host offering a feature this map cannot name never makes a guest
    incompatible) and kept in ``unknown_features``, to be reported.  A
    model the map does not know is decoded from the features
    (`cpucompat.engine.hostcpu.readable_host`).
    """
    cpumap = resolve_map(cpumap)
    if isinstance(value, str):
        value = _json(value, source, "cpu_info is not valid JSON")
    if not isinstance(value, dict):
        raise UnknownInputFormat(f"cpu_info must be a JSON object, not {type(value).__name__}", source=source)
    model = value.get("model")
    if not isinstance(model, str) or not model:
        raise UnknownInputFormat("cpu_info has no CPU model", source=source)
    arch = value.get("arch") or "x86_64"
    if not isinstance(arch, str):
        raise UnknownInputFormat("cpu_info arch is not a string", source=source)
    vendor = value.get("vendor")
    if vendor is not None and not isinstance(vendor, str):
        raise UnknownInputFormat("cpu_info vendor is not a string", source=source)
    features = value.get("features") or []
    if not isinstance(features, (list, tuple, set)) or not all(isinstance(f, str) for f in features):
        raise UnknownInputFormat("cpu_info features must be a list of names", source=source)
    if len(features) > MAX_CPU_INFO_FEATURES:
        raise UnknownInputFormat(f"cpu_info lists {len(features)} features (at most {MAX_CPU_INFO_FEATURES})",
                                 source=source)
    for what, name in (("model", model), ("arch", arch), ("vendor", vendor or ""), *(("feature", f) for f in features)):
        if len(name) > MAX_NAME_CHARS:
            raise UnknownInputFormat(f"cpu_info {what} name of {len(name)} characters (at most {MAX_NAME_CHARS}): "
                                     f"{shown(name, 40)}", source=source)
    archmap = cpumap.arch(arch)
    known, unknown = [], []
    for name in features:
        canonical = archmap.canonical_feature(name)
        if canonical is None:
            unknown.append(name)
        elif canonical not in known:
            known.append(canonical)
    cpu = Cpu(model=_model_name(model, cpumap, source), vendor=vendor or None, arch=arch,
              match=None, features=tuple((n, "require") for n in known), source=source,
              unknown_features=frozenset(unknown))
    # cpu_info lists every feature (EXPAND_FEATURES): a model newer than the map is decoded from them
    return readable_host(cpu, cpumap, lists_all_features=True)
