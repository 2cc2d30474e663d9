"""The request machinery is one typed object (the unit of work), not flags that modules leave
on `request.state` for each other: each name kept there is written and read by one module."""

import re
from collections import defaultdict
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
_STATE = re.compile(
    r"""request\.state\.(\w+)|getattr\(request\.state,\s*["'](\w+)["']|\["state"\]\)?\[["'](\w+)["']"""
)


def test_no_request_state_name_is_shared_between_modules():
    modules: dict[str, set[str]] = defaultdict(set)
    for path in APP.rglob("*.py"):
        for match in _STATE.finditer(path.read_text(encoding="utf-8")):
            name = next(group for group in match.groups() if group)
            modules[name].add(str(path.relative_to(APP)))
    assert modules, "the scan found no use of request.state at all: check the pattern"
    shared = {name: sorted(where) for name, where in modules.items() if len(where) > 1}
    assert shared == {}, f"pass these through the unit of work instead: {shared}"
