"""libvirt's own answers, for differential runs against another libvirt release.

Runs INSIDE a chroot (or any system) with that release's ``python3`` and
``python3-libvirt``; it imports nothing of cpucompat and only the standard
library besides libvirt.  It reads one JSON case per line on stdin and
writes one JSON answer per line on stdout, flushed, so a host-side driver
can ask case by case (hypothesis draws the next case after each answer).

A case is ``{"op": OP, "xmls": [...], "flags": [...]}``; every answer is
``{"ok": true, ...}`` or ``{"ok": false, "error": "libvirt's message"}``.

=============  ==============================================================
op             what libvirt is asked
=============  ==============================================================
version        ``libvirt.getVersion()`` and the map directory it reads
baseline       ``virConnectBaselineCPU(xmls, flags)`` through the QEMU driver;
               flags ``expand`` and ``migratable``; answers ``xml``
expand         the same with one CPU and ``expand`` always set
compare        ``virConnectCompareCPU(xmls[0])`` against this machine's CPU;
               answers ``result`` (incompatible/identical/superset)
compare_host   ``virCPUCompareXML(x86_64, host, guest)`` with ``xmls = [host,
               guest]``: what ``virConnectCompareCPU`` answers on a machine
               whose capabilities CPU is ``host`` (the QEMU driver's
               qemuConnectCompareCPU calls exactly this)
decode         ``cpuDecode`` of a raw ``<cpudata arch='x86'>`` dump as
               libvirt's tests/cputest.c does (cpuTestCPUID): as a host CPU
               (capabilities), or with flag ``guest`` as a guest CPU (match
               exact, fallback forbid; all models allowed); answers ``xml``
capabilities   the host CPU of ``virConnectGetCapabilities``; answers ``xml``
domcaps        ``virConnectGetDomainCapabilities`` for KVM on x86_64 (QEMU is
               probed once: seconds); answers ``xml``
compare_hv     ``virConnectCompareHypervisorCPU(xmls[0])`` for KVM on x86_64:
               what Nova (>= 27) asks before a live migration; answers
               ``result``
=============  ==============================================================

``compare_host`` and ``decode`` call libvirt's internal (LIBVIRT_PRIVATE)
functions with ctypes: they are exported by ``libvirt.so.0`` for libvirt's
own daemons, and their C signatures have not changed from 9.0.0 to 12.8.0.
The ``virCPUDef`` fields set here (type, match, arch, fallback) are the
struct's first members, unchanged in the same releases.

Usage: ``python3 oracle.py`` (cases on stdin), or ``python3 oracle.py --selftest``.
"""
from __future__ import annotations

import ctypes
import json
import sys
import tempfile

import libvirt

EXPAND = libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES
MIGRATABLE = libvirt.VIR_CONNECT_BASELINE_CPU_MIGRATABLE
RESULTS = {0: "incompatible", 1: "identical", 2: "superset"}

# src/conf/cpu_conf.h, the same from 9.0.0 to 12.8.0
CPU_TYPE_HOST, CPU_TYPE_GUEST = 0, 1
CPU_MATCH_EXACT = 0
CPU_FALLBACK_FORBID = 1


class _CpuDefHead(ctypes.Structure):
    """The first members of struct _virCPUDef (src/conf/cpu_conf.h)."""

    _fields_ = [("refs", ctypes.c_int), ("type", ctypes.c_int), ("mode", ctypes.c_int),
                ("match", ctypes.c_int), ("check", ctypes.c_int), ("arch", ctypes.c_int),
                ("model", ctypes.c_char_p), ("vendor_id", ctypes.c_char_p), ("fallback", ctypes.c_int)]


class _Private:
    """libvirt's internal CPU functions, through ctypes."""

    def __init__(self) -> None:
        lib = ctypes.CDLL("libvirt.so.0")
        self.lib = lib
        libc = ctypes.CDLL(None)
        self.free = libc.free
        self.free.argtypes = [ctypes.c_void_p]
        lib.virGetLastErrorMessage.restype = ctypes.c_char_p
        lib.virResetLastError.restype = None
        lib.virArchFromString.argtypes = [ctypes.c_char_p]
        lib.virArchFromString.restype = ctypes.c_int
        lib.virCPUDataParse.argtypes = [ctypes.c_char_p]
        lib.virCPUDataParse.restype = ctypes.c_void_p
        lib.virCPUDataFree.argtypes = [ctypes.c_void_p]
        lib.virCPUDataFree.restype = None
        lib.virCPUDefNew.argtypes = []
        lib.virCPUDefNew.restype = ctypes.POINTER(_CpuDefHead)
        lib.virCPUDefFree.argtypes = [ctypes.c_void_p]
        lib.virCPUDefFree.restype = None
        lib.cpuDecode.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        lib.cpuDecode.restype = ctypes.c_int
        lib.virCPUDefFormat.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.virCPUDefFormat.restype = ctypes.c_void_p
        lib.virCPUDefParseXMLString.argtypes = [ctypes.c_char_p, ctypes.c_int,
                                                ctypes.POINTER(ctypes.c_void_p), ctypes.c_bool]
        lib.virCPUDefParseXMLString.restype = ctypes.c_int
        lib.virCPUCompareXML.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p,
                                         ctypes.c_bool, ctypes.c_bool]
        lib.virCPUCompareXML.restype = ctypes.c_int
        self.x86_64 = lib.virArchFromString(b"x86_64")

    def error(self, what: str) -> str:
        message = self.lib.virGetLastErrorMessage()
        self.lib.virResetLastError()
        return (message or b"").decode(errors="replace") or f"{what} failed"

    def decode(self, cpudata: str, guest: bool) -> str:
        data = self.lib.virCPUDataParse(cpudata.encode())
        if not data:
            raise OracleError(self.error("virCPUDataParse"))
        cpu = self.lib.virCPUDefNew()
        try:
            head = cpu.contents
            head.arch = ctypes.c_int.from_address(data).value  # virCPUData.arch, its first member
            if guest:
                head.type, head.match, head.fallback = CPU_TYPE_GUEST, CPU_MATCH_EXACT, CPU_FALLBACK_FORBID
            else:
                head.type = CPU_TYPE_HOST
            if self.lib.cpuDecode(cpu, data, None) < 0:
                raise OracleError(self.error("cpuDecode"))
            return self._format(cpu)
        finally:
            self.lib.virCPUDefFree(cpu)
            self.lib.virCPUDataFree(data)

    def compare(self, host_xml: str, guest_xml: str) -> int:
        host = ctypes.c_void_p()
        if self.lib.virCPUDefParseXMLString(host_xml.encode(), CPU_TYPE_HOST, ctypes.byref(host), False) < 0:
            raise OracleError(self.error("parsing the host CPU"))
        try:
            result = self.lib.virCPUCompareXML(self.x86_64, host, guest_xml.encode(), False, False)
            if result < 0:
                raise OracleError(self.error("virCPUCompareXML"))
            return result
        finally:
            self.lib.virCPUDefFree(host)

    def _format(self, cpu: object) -> str:
        text = self.lib.virCPUDefFormat(cpu, None)
        if not text:
            raise OracleError(self.error("virCPUDefFormat"))
        try:
            return ctypes.string_at(text).decode()
        finally:
            self.free(text)


class OracleError(Exception):
    pass


class Oracle:
    def __init__(self) -> None:
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors are answers, not noise
        libvirt.virEventRegisterDefaultImpl()
        self.root = tempfile.mkdtemp(prefix="cpucompat-oracle-")
        self.conn = libvirt.open(f"qemu:///embed?root={self.root}")
        self.private = _Private()

    def answer(self, case: dict) -> dict:
        op = case.get("op")
        xmls = list(case.get("xmls") or [])
        flags = set(case.get("flags") or [])
        try:
            if op == "version":
                return {"ok": True, "version": libvirt.getVersion(),
                        "python": sys.version.split()[0]}
            if op in ("baseline", "expand"):
                value = (EXPAND if "expand" in flags or op == "expand" else 0) | \
                        (MIGRATABLE if "migratable" in flags else 0)
                return {"ok": True, "xml": self.conn.baselineCPU(xmls, value)}
            if op == "compare":
                return {"ok": True, "result": RESULTS[self.conn.compareCPU(xmls[0], 0)]}
            if op == "compare_host":
                return {"ok": True, "result": RESULTS[self.private.compare(xmls[0], xmls[1])]}
            if op == "decode":
                return {"ok": True, "xml": self.private.decode(xmls[0], "guest" in flags)}
            if op == "domcaps":
                return {"ok": True, "xml": self.conn.getDomainCapabilities(None, "x86_64", None, "kvm", 0)}
            if op == "compare_hv":
                return {"ok": True, "result": RESULTS[self.conn.compareHypervisorCPU(
                    None, "x86_64", None, "kvm", xmls[0], 0)]}
            if op == "capabilities":
                caps = self.conn.getCapabilities()
                start = caps.index("<cpu>")
                return {"ok": True, "xml": caps[start:caps.index("</cpu>", start) + len("</cpu>")]}
            return {"ok": False, "error": f"unknown op {op!r}"}
        except (libvirt.libvirtError, OracleError) as exc:
            return {"ok": False, "error": str(exc)}


SELFTEST = [
    {"op": "version"},
    {"op": "expand", "xmls": ["<cpu><arch>x86_64</arch><model>Haswell</model><vendor>Intel</vendor></cpu>"]},
    {"op": "compare_host", "xmls": ["<cpu><arch>x86_64</arch><model>Haswell</model><vendor>Intel</vendor></cpu>",
                                    "<cpu><model>Nehalem</model></cpu>"]},
    {"op": "decode", "xmls": [("<cpudata arch='x86'><cpuid eax_in='0x00000000' ecx_in='0x00' eax='0x0000000d' "
                               "ebx='0x756e6547' ecx='0x6c65746e' edx='0x49656e69'/><cpuid eax_in='0x00000001' "
                               "ecx_in='0x00' eax='0x000306c3' ebx='0' ecx='0x00802001' edx='0x078bfbff'/></cpudata>")],
     "flags": []},
]


def main() -> int:
    oracle = Oracle()
    cases = SELFTEST if sys.argv[1:] == ["--selftest"] else (json.loads(line) for line in sys.stdin if line.strip())
    for case in cases:
        sys.stdout.write(json.dumps(oracle.answer(case)) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
