"""``python -m svmlp.train`` (and ``torchrun -m svmlp.train``): the training harness."""

from __future__ import annotations

import sys

from svmlp.train.harness import cli

sys.exit(cli())
