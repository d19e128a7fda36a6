"""Prints the path of the newest CPython 3 on this machine that is newer than the one running
this script: pyenv's versions and ``python3.N`` on PATH, each asked for its own version. Exits
with an error saying what it looked at where there is none."""

import glob
import os
import shutil
import subprocess
import sys

candidates = set()
root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
candidates.update(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3")))
for minor in range(sys.version_info[1] + 1, 40):
    found = shutil.which(f"python3.{minor}")
    if found:
        candidates.add(found)

found = {}
for path in sorted(candidates):
    try:
        out = subprocess.run(
            [path, "-c", "import sys, venv; print(*sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        continue
    if out.returncode == 0 and out.stdout.split():
        found[path] = tuple(map(int, out.stdout.split()))

newer = {p: v for p, v in found.items() if v[:2] > sys.version_info[:2]}
if not newer:
    sys.exit(
        f"newest_python: no Python newer than {sys.version.split()[0]} found (looked at "
        f"{sorted(candidates) or 'nothing'} under {root}/versions and python3.N on PATH); CI "
        "proves the newest Python a user has and cannot skip it"
    )
best = max(newer, key=newer.get)
print(best)
print(f"newest_python: {best} (Python {'.'.join(map(str, newer[best]))})", file=sys.stderr)
