"""The engine: libvirt's CPU rules on values.

The map (`cpumap`), feature spellings (`names`), CPU definitions (`cpu`),
CPUID decoding (`cpuid`), libvirt's x86 driver rules (compare, decode,
baseline), the model graph and the x86-64 psABI levels.  Imports only the
ground floor (`cpucompat.errors`, `cpucompat.xmlsafe`).
"""
