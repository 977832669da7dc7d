"""``python -m pde_kan.cli``: the ``pde-kan`` command."""
import sys

from . import main

if __name__ == "__main__":  # importing the module (pkgutil.walk_packages) must not run the command
    sys.exit(main())
