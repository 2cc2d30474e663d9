"""The TypeScript client's committed types are exactly what its generator makes of the contract,
and its lockfile installs from whatever registry is configured (main suite; skipped without
Node.js)."""

import json

from tests.sdk.typescript import CLIENT, generate_command, run, tools

COMMITTED = CLIENT / "src" / "schema.d.ts"


def test_committed_typescript_types_match_the_contract(tmp_path):
    tools()
    fresh = tmp_path / "schema.d.ts"
    run(*generate_command(fresh))
    assert COMMITTED.read_text(encoding="utf-8") == fresh.read_text(encoding="utf-8"), (
        "clients/typescript/src/schema.d.ts is stale: run `npm run generate` in "
        "clients/typescript (after `homework-api openapi`) and commit it"
    )


def test_the_lockfile_pins_versions_and_hashes_but_no_registry():
    lock = json.loads((CLIENT / "package-lock.json").read_text(encoding="utf-8"))
    packages = {path: entry for path, entry in lock["packages"].items() if path}
    assert packages, "package-lock.json lists the dependency tree"
    for path, entry in packages.items():
        assert "resolved" not in entry, f"{path} names where it was downloaded from"
        assert entry.get("version") and entry.get("integrity", "").startswith("sha512-"), path
    manifest = json.loads((CLIENT / "package.json").read_text(encoding="utf-8"))
    for name, version in {**manifest["dependencies"], **manifest["devDependencies"]}.items():
        assert version[0].isdigit(), f"{name} is pinned to an exact version, not {version!r}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version, name
