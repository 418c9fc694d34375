"""``python -m svmlp`` runs the command line."""

import sys

from svmlp.cli import main

sys.exit(main())
