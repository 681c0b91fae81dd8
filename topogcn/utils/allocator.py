"""Keeping the memory a process frees for its next allocations (glibc).

glibc's ``malloc`` maps large blocks (above a threshold that adapts up to
32 MB) afresh and returns them to the system when they are freed, and trims
the top of its heap when much of it is free.  A training step allocates and
frees the same large activations at every step, so the system zero-fills
and faults in those pages again each time, a large share of a training step
of the paper-size model on large skeletons (measured on the benchmarks
page, ``docs/benchmarks.rst``).  :func:`keep_freed_memory` tells the allocator
to serve every block from its heap and to keep what is freed.
"""
import ctypes
import ctypes.util
import platform

#: ``mallopt`` parameters (``<malloc.h>``)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
#: the largest value ``mallopt`` takes (an ``int``): trim only when more
#: than 2 GiB at the top of the heap is free
_TRIM_THRESHOLD = 2 ** 31 - 1


def keep_freed_memory() -> bool:
    """Make glibc's allocator keep freed memory for reuse: no block is
    mapped on its own (``M_MMAP_MAX = 0``) and the heap is trimmed only
    above 2 GiB of free memory at its top.  Applies to the whole process
    from this call on (blocks allocated before keep their fate), and the
    process's resident memory then stays near its peak until it exits.

    Returns:
        :obj:`True` if applied; :obj:`False` where the C library is not
        glibc (nothing is changed).
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # mallopt returns 1 on success; setting either value also turns off the
    # adaptive mmap threshold, which is why both are set together
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
