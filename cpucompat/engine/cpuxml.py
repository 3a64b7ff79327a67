"""Writing CPU definitions as libvirt XML: the one XML writer.

Built with lxml, so every name is escaped (a model called ``a'<b`` still
gives well-formed XML) and the layout is lxml's: two-space indentation,
double-quoted attributes, one element per line.  Reading XML is the
inputs' work (`cpucompat.inputs.parse`); this is its inverse.
"""
from __future__ import annotations

from typing import Protocol

from lxml import etree

from .rules import Mode

__all__ = ["WritableCpu", "WritableDump", "cpu_element", "cpudata_element", "serialize"]


class WritableCpu(Protocol):
    """What the writer reads of a CPU (`cpu.Cpu` is one): the writer never
    imports the values, the values import the writer."""

    @property
    def model(self) -> str | None: ...
    @property
    def vendor(self) -> str | None: ...
    @property
    def features(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def arch(self) -> str | None: ...
    @property
    def mode(self) -> str: ...
    @property
    def match(self) -> str | None: ...
    @property
    def fallback(self) -> str: ...
    @property
    def signature(self) -> tuple[int, int, int] | None: ...
    @property
    def migratable(self) -> bool | None: ...
    @property
    def is_host(self) -> bool: ...


class WritableDump(Protocol):
    """What the writer reads of a CPUID dump (`cpuid.CpuidDump` is one)."""

    @property
    def leaves(self) -> tuple[tuple[tuple[int, int], tuple[int, int, int, int]], ...]: ...
    @property
    def msrs(self) -> tuple[tuple[int, tuple[int, int]], ...]: ...


def cpu_element(cpu: WritableCpu, *, mode_attributes: bool = True) -> etree._Element:
    """The ``<cpu>`` element of `cpu`.

    A host CPU (one with an arch) is written as libvirt's capabilities
    show it: arch, model, vendor, signature, features by name.  A guest
    CPU as a domain holds it: mode, match (custom CPUs), migratable,
    model with fallback, vendor (with a model only), features with their
    policy.  ``mode_attributes=False`` leaves out mode and fallback, which
    libvirt before 0.9.10 did not know.
    """
    root = etree.Element("cpu")
    if cpu.is_host:
        etree.SubElement(root, "arch").text = cpu.arch
        if cpu.model:
            etree.SubElement(root, "model").text = cpu.model
        if cpu.vendor:
            etree.SubElement(root, "vendor").text = cpu.vendor
        if cpu.signature:
            family, model, stepping = cpu.signature
            etree.SubElement(root, "signature", family=str(family), model=str(model), stepping=str(stepping))
        for name, _policy in cpu.features:
            etree.SubElement(root, "feature", name=name)
        return root
    if mode_attributes:
        root.set("mode", cpu.mode)
    if cpu.mode == Mode.CUSTOM and cpu.match:
        root.set("match", cpu.match)
    if cpu.migratable is not None:
        root.set("migratable", "on" if cpu.migratable else "off")
    if cpu.model:
        model = etree.SubElement(root, "model")
        if mode_attributes:
            model.set("fallback", cpu.fallback)
        model.text = cpu.model
        if cpu.vendor:
            etree.SubElement(root, "vendor").text = cpu.vendor
    for name, policy in cpu.features:
        etree.SubElement(root, "feature", policy=policy, name=name)
    return root


def cpudata_element(dump: WritableDump) -> etree._Element:
    """libvirt's ``<cpudata arch='x86'>`` element of a raw CPUID dump."""
    root = etree.Element("cpudata", arch="x86")
    for (eax_in, ecx_in), (eax, ebx, ecx, edx) in dump.leaves:
        etree.SubElement(root, "cpuid", eax_in=f"0x{eax_in:08x}", ecx_in=f"0x{ecx_in:02x}", eax=f"0x{eax:08x}",
                         ebx=f"0x{ebx:08x}", ecx=f"0x{ecx:08x}", edx=f"0x{edx:08x}")
    for index, (msr_eax, msr_edx) in dump.msrs:
        etree.SubElement(root, "msr", index=f"0x{index:x}", edx=f"0x{msr_edx:08x}", eax=f"0x{msr_eax:08x}")
    return root


def serialize(element: etree._Element) -> str:
    """`element` as indented text ending in a newline."""
    text: str = etree.tostring(element, encoding="unicode", pretty_print=True)
    return text
