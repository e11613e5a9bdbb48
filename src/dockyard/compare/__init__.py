"""`dockyard compare`: the same image as a container, as a microVM, under the peer runtimes
and as a plain host process, measured side by side (issue 8; docs/compare.md).

    run.compare(Options(...)) -> report dict (report_json.py's shape)

Modules, one job each: figures (the {value, unit, how} / {value: null, reason} shape),
machine (CPUs, RAM, kernel, KVM/TCG, which VM path works), modes (how each isolation runs a
command, starts an idle workload and cleans up), procs (PSS of process trees), measure_start,
measure_memory, measure_speed, surface, scaling, and the reports (text, json, html, plots).
"""
