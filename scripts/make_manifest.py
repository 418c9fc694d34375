"""Kept for old instructions: ``svmlp manifest`` does this now (it is in the wheel).

    svmlp manifest FOLDER --name svmlp --version 1.0 --base-url https://mirror.example.org/svmlp/1.0/ \
        -o FOLDER/manifest.json
"""

from __future__ import annotations

import sys

from svmlp.cli import main

if __name__ == "__main__":
    sys.exit(main(["manifest", *sys.argv[1:]]))
