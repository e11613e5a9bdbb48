"""Write fast launchers for the console scripts into a bin directory.

    python -m dockyard.launcher BIN_DIR        (run by `make venv`)

pip's generated wrapper does ``import re`` (~2 ms) and the interpreter's ``site`` setup
costs ~2.5 ms: on a runtime whose whole budget is ~14 ms per container that matters. Our
launcher runs the venv's interpreter with ``-IS`` (one shebang argument): ``-S`` skips ``site`` (the package's
location is written into the launcher instead), ``-I`` ignores PYTHON* environment
variables, so e.g. PYTHONDONTWRITEBYTECODE cannot force a recompile of every module on
every start, and keeps the user's site-packages and the current directory off sys.path.
"""

from __future__ import annotations

import os
import sys

SCRIPTS = {"dockyard-runtime": ("dockyard.runtime.cli", "main"), "dockyard": ("dockyard.cli.main", "main")}

TEMPLATE = """#!{python} -IS
# Written by `python -m dockyard.launcher` (see that module for why not pip's wrapper).
import sys
sys.path.insert(0, {path!r})
from {module} import {func}
code = {func}()
# Skip interpreter teardown (module cleanup, GC): ~5 ms of a container start. Flush first.
sys.stdout.flush()
sys.stderr.flush()
import os
os._exit(code if isinstance(code, int) else 1)
"""


def write(bin_dir: str) -> list[str]:
    import dockyard

    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(dockyard.__file__)))
    python = os.path.join(os.path.abspath(bin_dir), "python")
    written = []
    for name, (module, func) in SCRIPTS.items():
        path = os.path.join(bin_dir, name)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(TEMPLATE.format(python=python, path=pkg_parent, module=module, func=func))
        os.chmod(tmp, 0o755)
        os.rename(tmp, path)
        written.append(path)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m dockyard.launcher BIN_DIR")
    for p in write(sys.argv[1]):
        print(f"wrote {p}")
