"""Large transient buffers go back to the system once freed (`app.main.tune_malloc`): a burst
of change-feed pages must not leave a worker's memory high for the rest of its life."""

import platform
import subprocess
import sys

import pytest

_BURST = """
import sys
from app.main import tune_malloc
if sys.argv[1] == "tuned":
    tune_malloc()

def resident():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096

survivors, before = [], resident()
for _ in range(10):
    # 30 pages of 1.4 MB in flight, with objects made meanwhile (malloc-sized, above pymalloc's
    # 512 bytes) that outlive them.
    pages = []
    for _ in range(30):
        pages.append(bytearray(1_400_000))
        survivors.append(bytearray(4096))
    del pages
print((resident() - before) // 1_000_000)
"""


def _left_after_burst(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _BURST, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip())


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_a_burst_of_large_buffers_leaves_little_resident():
    untuned, tuned = _left_after_burst("untuned"), _left_after_burst("tuned")
    # glibc's moving threshold keeps the burst's pages in the heap, pinned by the survivors.
    assert untuned >= 20, untuned
    assert tuned <= 5, tuned
