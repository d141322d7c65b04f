"""``python -m spear_train.cli`` runs the ``spear-bench`` command line."""

import sys

from spear_train.cli.main import main

sys.exit(main())
