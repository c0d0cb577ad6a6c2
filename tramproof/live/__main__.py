"""python -m tramproof.live PROGRAM...: `tramproof live replay PROGRAM...`."""

import sys

from tramproof.live.cli import main

sys.exit(main(["replay", *sys.argv[1:]]))
