"""The embedded libvirt cpu_map (see cpu_maps/SOURCE)."""
