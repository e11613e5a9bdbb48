"""Print hyperfine's --export-json results as the markdown table docs/benchmarks.md uses.
Usage: hyperfine_table.py RESULTS.json  (the benchmarks print their goal lines after it)."""

import json
import sys

results = json.load(open(sys.argv[1]))["results"]
print("\n| command | median ms | mean | min | max |\n|---|---:|---:|---:|---:|")
for r in results:
    print(f"| {r['command']} | {r['median'] * 1e3:.2f} | {r['mean'] * 1e3:.2f} | {r['min'] * 1e3:.2f} | "
          f"{r['max'] * 1e3:.2f} |")
