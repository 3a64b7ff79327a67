"""The Nova rules: options (`config`), the scheduling decisions
(`scheduling`), the guest CPU Nova's libvirt driver writes (`guest`) and
os-traits (`traits`).  The Nova adapter itself is ``cpucompat.filters``.
Imports the inputs, the engine and the ground floor; never Nova.
"""
