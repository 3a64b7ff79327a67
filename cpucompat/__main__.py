"""`python -m cpucompat`: the same CLI as the `cpucompat` command."""
import sys

from .cli import main

sys.exit(main())
