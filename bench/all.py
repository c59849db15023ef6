"""Run every benchmark in turn (``make bench``)."""

from __future__ import annotations

import runpy
import sys

BENCHMARKS = ["bench.hot_path", "bench.end_to_end", "bench.event_simulation", "bench.abuse"]


def main() -> None:
    for name in BENCHMARKS:
        sys.argv = [name]
        runpy.run_module(name, run_name="__main__")
        print()


if __name__ == "__main__":
    main()
