"""What every API and worker process loads at start: not the report renderers (matplotlib,
numpy and fpdf2 are ~60 MB of each process's memory, and most processes never render a
report); the first rendering imports them in its worker thread."""

import subprocess
import sys

PROBE = """
import sys
from app.core.config import Settings
from app.main import create_app
create_app(Settings(_env_file=None, database_url="sqlite+aiosqlite:///:memory:"))
import app.cli, app.sync.worker
print(" ".join(sorted(m for m in ("matplotlib", "numpy", "fpdf") if m in sys.modules)))
"""


def test_the_report_renderers_are_not_loaded_at_start():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
