#!/usr/bin/env python3
"""callgrind_diff.py SHORT LONG ROUNDS [TOP]: one round's inclusive
instructions per function, from two callgrind profiles of the same work
run N and N + ROUNDS times (bench/api/write_instructions.sh with PROFILE
keeps such pairs): start-up and first-call planning cancel out."""
import re
import subprocess
import sys


def inclusive(path):
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--auto=no", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([\s\d.]+%\)\s+(.*)$", line)
        if m:
            res[m.group(2)] = res.get(m.group(2), 0) + int(m.group(1).replace(",", ""))
    return res


short, long_, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
top = int(sys.argv[4]) if len(sys.argv) > 4 else 80
a, b = inclusive(short), inclusive(long_)
rows = sorted(((b.get(k, 0) - a.get(k, 0)) / rounds, k) for k in set(a) | set(b))
for v, k in reversed(rows[-top:]):
    print(f"{v:12,.0f}  {k}")
