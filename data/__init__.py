"""The embedded libvirt cpu_maps, one directory per libvirt version (each with its SOURCE)."""
