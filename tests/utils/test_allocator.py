import platform
import subprocess
import sys

import pytest

from topogcn.utils import allocator

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

#: allocates, touches and frees 128 MB, then 64 MB (which fits in the freed
#: block); prints the MB the second allocation faulted in afresh
_PROBE = """
import resource, sys, torch
from topogcn.utils.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def touch(mb):
    t = torch.empty(mb * 2 ** 18)  # float32
    t.fill_(1.0)
    del t
touch(128)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch(64)
after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print((after - before) * resource.getpagesize() / 2 ** 20)
"""


def _fresh_mb(mode: str) -> float:
    p = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    return float(p.stdout.split()[-1])


@pytest.mark.skipif(not GLIBC, reason="glibc's allocator only")
def test_freed_memory_is_reused_without_faulting_pages_in_again():
    # the default allocator maps the block afresh: its pages are faulted in again
    assert _fresh_mb("default") > 60
    assert _fresh_mb("keep") < 6


def test_other_c_libraries_are_left_alone(monkeypatch):
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("musl", "1.2"))
    calls = []
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda *a: calls.append(a))
    assert allocator.keep_freed_memory() is False
    assert calls == []
