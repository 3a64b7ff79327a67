"""The inputs: every format cpucompat reads, turned into engine values once.

CPU XML, capabilities and domain capabilities, Nova's ``cpu_info`` JSON,
CPUID dumps (`parse`), ``/proc/cpuinfo`` (`cpuinfo`), QMP replies (`qmp`),
streamed JSON (`jsonstream`), and live hosts: libvirt URIs and this machine
(`live`).
Imports the engine and the ground floor.
"""
