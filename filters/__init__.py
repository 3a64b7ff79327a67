"""Nova scheduler filters backed by cpucompat (installed as cpucompat.filters)."""
