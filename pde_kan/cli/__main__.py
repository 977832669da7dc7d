"""``python -m pde_kan.cli``: the ``pde-kan`` command."""
import sys

from . import main

sys.exit(main())
