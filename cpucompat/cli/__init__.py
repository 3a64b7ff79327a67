"""The ``cpucompat`` command: argument parsing and formatting over library
calls.  `cpucompat.cli.main.main` runs it, with one parser built from the
engine's commands (`main`) and the planner's (`planner`)."""
