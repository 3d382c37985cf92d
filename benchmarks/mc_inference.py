"""MC inference benchmark: `python benchmarks/mc_inference.py [options]` (same as `bnnfer bench`).

Prints the engine-versus-naive table, the placement trade-off and the end-to-end timings, and
writes them as JSON (default benchmarks/results/mc_inference.json).
"""

import sys

from bnnfer.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
