"""``python -m fnnet.sweep status OUT`` and ``python -m fnnet.sweep clear OUT [--yes]``."""

import sys

from fnnet.sweep._cli import main

if __name__ == "__main__":
    sys.exit(main())
