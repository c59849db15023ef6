"""Where the service's time goes: a py-spy profile (collapsed stacks, as ``ARS_BENCH_PROFILE``
makes a benchmark write them) summed by function, inclusive and self, as percentages of the
samples. Reproduce with ``.venv/bin/python -m bench.profile FILE [--top 30]``."""

from __future__ import annotations

import argparse
import collections
import re

_FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^:)]*)(?::\d+)?\)$")


def summarise(path: str) -> tuple[int, collections.Counter[str], collections.Counter[str]]:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    with open(path) as fh:
        for line in fh:
            stack, _, count = line.rstrip().rpartition(" ")
            n = int(count)
            total += n
            names = []
            for frame in stack.split(";"):
                m = _FRAME.match(frame)
                names.append(f"{m['name']} ({m['file'].rsplit('/', 1)[-1]})" if m else frame)
            for name in set(names):
                inclusive[name] += n
            own[names[-1]] += n
    return total, inclusive, own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    total, inclusive, own = summarise(args.file)
    print(f"{total} samples; inclusive:")
    for name, n in inclusive.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {name}")
    print("self:")
    for name, n in own.most_common(args.top // 2):
        print(f"  {100 * n / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
