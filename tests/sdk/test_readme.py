"""README.md's shell examples run as pasted: every ```sh / ```bash block, in order, in one bash
(`set -euo pipefail`), against a live server with the demo data.

Conventions the README follows (and this test enforces):
- The examples reach the server through `$BASE`, which the first one sets with
  `BASE=${BASE:-http://127.0.0.1:8000}`; here BASE is the live server's address.
- A block that is not meant to run here (`make run`, docker, a PostgreSQL setup) is preceded,
  on the line right before its opening fence, by a visible comment
  `<!-- not run by the README test: <why> -->`.
- Every `curl` fails on an answer that is not a success (`-f`, as in `curl -fsS`), except a
  one-line call that announces its status in a comment, `# answers 404`; such a call must
  answer exactly that status.
Each block sets what it uses (ids come from earlier answers), so a missing variable fails the
run through `set -u`.
"""

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live_server import Server, cli, plain_env

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
pytestmark = pytest.mark.sdk

FENCE = re.compile(r"^```(sh|bash|shell)\s*$")
NOT_RUN = re.compile(r"^<!-- not run by the README test: (\S.*?) -->$")
ANNOUNCED = re.compile(r"#\s*answers\s+(\d{3})\b")
BASE_DEFAULT = "BASE=${BASE:-http://127.0.0.1:8000}"

# Runs in front of the README's blocks. `curl` becomes a function that checks how it is called,
# then runs the real curl with the same arguments: with -f (or --fail), as is; without, only
# where the README line announced a status, which the answer must then have.
PREAMBLE = r"""set -euo pipefail
curl() {
  local arg fail=0
  for arg in "$@"; do
    case "$arg" in
      --fail|--fail-with-body) fail=1 ;;
      --*) ;;
      -*f*) fail=1 ;;
    esac
  done
  if [ "$fail" = 1 ]; then command curl "$@"; return; fi
  local line="${BASH_LINENO[0]}" expected out status
  expected="${_ANNOUNCED[$line]:-}"
  if [ -z "$expected" ]; then
    echo "README test: a curl without -f that announces no status (script line $line)" >&2
    return 97
  fi
  out=$(command curl -w '\n%{http_code}' "$@")
  status="${out##*$'\n'}"
  printf '%s\n' "${out%$'\n'*}"
  if [ "$status" != "$expected" ]; then
    echo "README test: script line $line answered $status, the README says $expected" >&2
    return 98
  fi
}
"""


@dataclass
class Block:
    line: int  # of the opening fence in README.md
    text: str
    skipped_because: str | None


def shell_blocks(markdown: str) -> list[Block]:
    lines = markdown.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        if FENCE.match(lines[index]):
            end = lines.index("```", index + 1)
            previous = lines[index - 1] if index else ""
            reason = NOT_RUN.match(previous)
            blocks.append(
                Block(
                    index + 1,
                    "\n".join(lines[index + 1 : end]),
                    reason.group(1) if reason else None,
                )
            )
            index = end
        index += 1
    return blocks


def script_of(blocks: list[Block]) -> str:
    body: list[str] = []
    announced: dict[int, str] = {}
    preamble_lines = PREAMBLE.count("\n") + 1  # and the _ANNOUNCED line, written last
    for block in blocks:
        if block.skipped_because:
            continue
        body.append(f'echo "--- README.md line {block.line}" >&2')
        for text in block.text.splitlines():
            status = ANNOUNCED.search(text)
            if status:
                announced[preamble_lines + len(body) + 1] = status.group(1)
            body.append(text)
    table = " ".join(f"[{line}]={status}" for line, status in announced.items())
    return f"{PREAMBLE}declare -A _ANNOUNCED=({table})\n" + "\n".join(body) + "\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = plain_env(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('readmedb')}/readme.db")
    cli(env, "migrate")
    cli(env, "seed-demo")
    running = Server(env).start()
    yield running
    running.stop()


def test_the_readme_marks_what_it_does_not_run_and_reaches_the_server_through_base():
    blocks = shell_blocks(README.read_text(encoding="utf-8"))
    run = [b for b in blocks if not b.skipped_because]
    assert run and any(b.skipped_because for b in blocks)
    assert run[0].text.splitlines()[0] == BASE_DEFAULT, "the first example sets BASE"
    for block in run:
        text = block.text.replace(BASE_DEFAULT, "")
        assert "127.0.0.1:8000" not in text, f"line {block.line}: use $BASE, not a fixed address"
        assert "uuidgen" not in text, f"line {block.line}: uuidgen is not everywhere; use python3"


def run_markdown(markdown: str, base: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    """The shell blocks of `markdown`, as this test runs README.md's."""
    script = workdir / "readme.sh"
    script.write_text(script_of(shell_blocks(markdown)), encoding="utf-8")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "BASE": base,
        # Straight to the live server, whatever proxy the machine uses.
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    bash = shutil.which("bash")
    assert bash, "the README's examples are bash"
    return subprocess.run(
        [bash, "--noprofile", "--norc", str(script)],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_shell_example_of_the_readme_runs_against_a_live_server(server, tmp_path):
    result = run_markdown(README.read_text(encoding="utf-8"), server.url, tmp_path)
    assert result.returncode == 0, (
        f"README.md's examples failed (exit {result.returncode}):\n"
        f"--- stderr\n{result.stderr[-4000:]}\n--- stdout\n{result.stdout[-4000:]}\n"
        f"--- server errors\n{server.errors()}"
    )
    # What the examples show: the client Jo made, her skipped thought record, the 404 problem.
    assert '"display_name":"Jo"' in result.stdout
    assert '"status":"skipped"' in result.stdout
    assert "urn:homework:problem:not-found" in result.stdout
    assert not server.errors()


FENCE_OPEN, FENCE_CLOSE = "```sh\n", "\n```\n"


def test_the_runner_holds_examples_to_the_conventions(server, tmp_path):
    """What fails a README example: an unannounced answer that is not a success, an
    announced status the server does not give, a variable never set. A block marked as not
    run is not run."""
    ok = f'{FENCE_OPEN}curl -fsS "$BASE/healthz"{FENCE_CLOSE}'
    cases = {
        "a failing curl -f": (f'{FENCE_OPEN}curl -fsS "$BASE/v1/me"{FENCE_CLOSE}', 22),
        "a curl without -f": (f'{FENCE_OPEN}curl -sS "$BASE/healthz"{FENCE_CLOSE}', 97),
        "a wrong announced status": (
            f'{FENCE_OPEN}curl -sS "$BASE/healthz"   # answers 404{FENCE_CLOSE}',
            98,
        ),
    }
    for name, (block, status) in cases.items():
        result = run_markdown(ok + block + ok, server.url, tmp_path)
        assert result.returncode == status, (name, result.returncode, result.stderr)
    unset = f'{FENCE_OPEN}curl -fsS "$BASE/v1/clients/$NOPE"{FENCE_CLOSE}'
    result = run_markdown(ok + unset + ok, server.url, tmp_path)
    assert result.returncode != 0 and "NOPE: unbound variable" in result.stderr
    skipped = f"<!-- not run by the README test: it would fail -->\n{FENCE_OPEN}false{FENCE_CLOSE}"
    announced = f'{FENCE_OPEN}curl -sS "$BASE/v1/nothing-here"   # answers 404{FENCE_CLOSE}'
    result = run_markdown(ok + skipped + announced, server.url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"status":404' in result.stdout


def test_serve_says_where_it_listens(server):
    log = server.log.read_text(errors="replace")
    assert f"Listening on http://127.0.0.1:{server.port} (docs at /docs)" in log
