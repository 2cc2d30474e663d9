"""Pinned installs: constraints.txt holds the exact version of every package the project
installs, and `make install`, `make test`, .ci/run and the Dockerfile install with it, so a
fresh clone next year gets the versions this suite passed with. `make lock` refreshes it."""

import re
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;#]+)$")


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for number, line in enumerate((ROOT / "constraints.txt").read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.match(line.strip())
        # Only `name==version`: no index URLs, options, editable or direct (`@ URL`) lines.
        assert match, f"constraints.txt:{number}: {line!r} is not a `name==version` pin"
        name = canonicalize_name(match["name"])
        assert name not in pins, f"constraints.txt:{number}: {name} is pinned twice"
        pins[name] = match["version"]
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [
        Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]
    ]


def test_every_pinned_package_is_installed_at_exactly_its_version():
    wrong = {}
    for name, version in _pins().items():
        try:
            installed = distribution(name).version
        except PackageNotFoundError:
            installed = "not installed"
        if installed != version:
            wrong[name] = f"pinned {version}, installed {installed}"
    assert wrong == {}, "run `make install-dev` (it installs with -c constraints.txt)"


def test_every_dependency_of_pyproject_is_pinned_within_its_range():
    pins = _pins()
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} has no pin: run `make lock`"
        assert requirement.specifier.contains(Version(pins[name]), prereleases=True), (
            f"{name}=={pins[name]} is outside pyproject's {requirement}: run `make lock`"
        )


def test_everything_the_dependencies_pull_in_is_pinned_too():
    """Walked through the installed packages' own requirements (with the extras asked for),
    so that no package of a fresh install is left to float."""
    pins = _pins()
    seen: dict[str, set[str]] = {}
    todo = [(requirement.name, set(requirement.extras)) for requirement in _declared()]
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if key in seen and extras <= seen[key]:
            continue
        seen[key] = seen.get(key, set()) | extras
        for text in distribution(key).requires or []:
            requirement = Requirement(text)
            environments = [{"extra": extra} for extra in sorted(seen[key])] or [{"extra": ""}]
            if requirement.marker is None or any(
                requirement.marker.evaluate(environment) for environment in environments
            ):
                todo.append((requirement.name, set(requirement.extras)))
    assert sorted(set(seen) - set(pins)) == []
    assert len(seen) > len(_declared())  # the walk went past the direct dependencies


def test_every_install_path_uses_the_constraints():
    makefile = (ROOT / "Makefile").read_text()
    installs = re.findall(r"\$\(BIN\)/pip install[^\n]*", makefile)
    assert installs and all("-c constraints.txt" in line for line in installs), installs
    assert re.search(r"^\$\(VENV\)/\.installed: [^\n]*constraints\.txt", makefile, re.M)
    assert re.search(r"^\$\(VENV\)/\.installed-dev: [^\n]*constraints\.txt", makefile, re.M)
    assert re.search(r"^lock:", makefile, re.M)
    dockerfile = (ROOT / "Dockerfile").read_text()
    runtime = dockerfile.split("AS runtime", 1)[1]
    assert "COPY constraints.txt" in runtime
    assert re.search(r"pip install [^\n]*-c /tmp/constraints\.txt [^\n]*/wheels/", runtime)
    # .ci/run installs through make (lint and test depend on install-dev).
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make lint" in ci and "make test" in ci and "pip install" not in ci
