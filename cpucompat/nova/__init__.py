"""The Nova rules: options (`config`), the scheduling decisions
(`scheduling`) over host CPUs read from cpu_info (`hostcpu`), move kinds
(`moves`) and extra specs (`specs`), kept in bounded caches (`cache`); the
guest CPU Nova's libvirt driver writes (`guest`) and os-traits (`traits`).
The Nova adapter itself is ``cpucompat.filters``.
Imports the inputs, the engine and the ground floor; never Nova.
"""
