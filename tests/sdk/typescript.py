"""The TypeScript client in clients/typescript: its tools, installed from the committed lockfile."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "typescript"


def tools() -> tuple[str, str]:
    """node and npm, or a skip that says what is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(name for name, path in (("node", node), ("npm", npm)) if not path)
        pytest.skip(f"{missing} not on PATH: the TypeScript client needs Node.js 20+ with npm")
    return node, npm


def run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """A command in clients/typescript; its whole output in the failure when it fails."""
    result = subprocess.run(
        list(args), cwd=CLIENT, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}"
    return result


def installed() -> Path:
    """node_modules as package-lock.json pins it (`npm ci` when it is missing or older than the
    lockfile)."""
    _, npm = tools()
    installed_lock = CLIENT / "node_modules" / ".package-lock.json"
    lock = CLIENT / "package-lock.json"
    if not installed_lock.exists() or installed_lock.stat().st_mtime < lock.stat().st_mtime:
        run(npm, "ci", "--no-audit", "--no-fund")
    return CLIENT / "node_modules" / ".bin"


def generate_command(output: Path) -> list[str]:
    """`npm run generate` as package.json states it, writing to `output` instead."""
    manifest = json.loads((CLIENT / "package.json").read_text(encoding="utf-8"))
    script = manifest["scripts"]["generate"]
    args = script.split()
    assert args[0] == "openapi-typescript" and "--output" in args, script
    args[args.index("--output") + 1] = str(output)
    return [str(installed() / args[0]), *args[1:]]
