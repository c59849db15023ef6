"""Run every benchmark in turn (``make bench``), each in a process of its own; the per-press
path on one core (``taskset -c 0``). Each prints its figures and, last, one JSON object."""

from __future__ import annotations

import shutil
import subprocess
import sys

BENCHMARKS = [
    ["bench.hot_path"],
    ["bench.end_to_end"],
    ["bench.latency"],
    ["bench.throughput"],
    ["bench.scale"],
    ["bench.event_simulation"],
    ["bench.abuse"],
]


def main() -> None:
    failed = []
    for argv in BENCHMARKS:
        cmd = [sys.executable, "-m", *argv]
        if argv[0] == "bench.hot_path" and (taskset := shutil.which("taskset")):
            cmd = [taskset, "-c", "0", *cmd]
        print(f"$ {' '.join(cmd)}", flush=True)
        if subprocess.run(cmd, check=False).returncode != 0:
            failed.append(argv[0])
        print(flush=True)
    if failed:
        sys.exit(f"benchmarks that failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
