"""Exit 0 when this checkout is set up: ``edgeq`` imports from it, its command is installed, and
every requirement of pyproject.toml (with the hw and dev extras) is installed at an allowed
version. Otherwise print what is missing and exit 1, so that scripts/setup.sh installs."""

import importlib.metadata as metadata
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = ("hw", "dev")


def missing() -> list[str]:
    try:
        from packaging.requirements import Requirement
    except ImportError:
        return ["the 'packaging' module (to read requirements)"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in EXTRAS:
        wanted += project["optional-dependencies"][extra]
    problems = []
    for text in wanted:
        req = Requirement(text)
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{req.name} is not installed")
            continue
        if not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name} {version} is not {req.specifier}")
    try:
        import edgeq
    except ImportError:
        return [*problems, "edgeq is not installed"]
    if ROOT not in Path(edgeq.__file__).resolve().parents:
        problems.append(f"edgeq imports from {Path(edgeq.__file__).parent}, not from {ROOT}")
    if not metadata.entry_points(group="console_scripts", name="edgeq"):
        problems.append("the edgeq command is not installed")
    return problems


if __name__ == "__main__":
    problems = missing()
    for problem in problems[:3]:
        print(f"setup: {problem}")
    if len(problems) > 3:
        print(f"setup: ... and {len(problems) - 3} more")
    sys.exit(1 if problems else 0)
