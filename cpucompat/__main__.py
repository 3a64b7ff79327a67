"""`python -m cpucompat`: the same CLI as the `cpucompat` command."""
import sys

from .cli.main import main

sys.exit(main())
