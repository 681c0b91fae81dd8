"""Forward+backward time and peak memory of one S-GC layer.

Compares, on the same input and weights, side by side in one run:

* ``einsum``: the plain dense formulation of eq. 3-5 (masked to the edges);
* ``dense`` and ``sparse``: the two paths of :class:`topogcn.nn.SGConv`;
* ``auto``: what :class:`~topogcn.nn.SGConv` picks.

for V in {25, 137, 500, 2000} joints with the complete graph and the 2-hop
neighbourhood of a skeleton-like tree, 64 channels in and out, 3 heads, and
batch x frames = 32 x 64 = 2,048 frames.  Where the dense formulations would
not fit in ``--mem-gb`` of memory, fewer frames are used (the table says how
many) and the row is marked.  Every measurement runs in its own process, so
the peak resident memory (``ru_maxrss``) is that of the measurement alone.

Usage: ``python benchmarks/bench_sgconv.py [--quick] [--out FILE.json]``; the
table is written beside the JSON (``.md``, ``.csv``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

import results_io  # noqa: E402

from topogcn.nn import SGConv  # noqa: E402
from topogcn.skeleton import Skeleton, get_skeleton  # noqa: E402

C, HEADS, FRAMES = 64, 3, 32 * 64


def skeleton_for(V: int) -> Skeleton:
    if V == 25:
        return get_skeleton("ntu25")
    if V == 137:
        return get_skeleton("openpose137")
    # a skeleton-like random tree: every joint hangs off one of the previous 4
    g = torch.Generator().manual_seed(V)
    parents = [max(0, i - 1 - int(torch.randint(0, 4, (1,), generator=g))) for i in range(1, V)]
    return Skeleton(f"tree{V}", V, [(i + 1, p) for i, p in enumerate(parents)])


def einsum_sgc(conv: SGConv, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Plain dense eq. 3-5 with einsum (the reference formulation)."""
    H, D = conv.heads, conv.head_channels
    qk = conv.lin_qk(conv.norm(x))
    q = qk[..., :H * D].unflatten(-1, (H, D))
    k = qk[..., H * D:].unflatten(-1, (H, D))
    s = torch.einsum("bihd,bjhd->bhij", q, k) * D ** -0.5
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    a = torch.softmax(s, dim=-1)
    if mask is not None:
        a = a.nan_to_num(0.0)
    return torch.einsum("bhij,bjc,hcd->bid", a * conv.topology, x, conv.weight) + conv.bias


def measure(V: int, edges: str, impl: str, frames: int, repeats: int) -> dict:
    torch.manual_seed(0)
    skel = skeleton_for(V)
    ei = None if edges == "complete" else skel.k_hop_edge_index(2)
    backend = impl if impl in ("dense", "sparse", "auto") else "dense"
    conv = SGConv(C, C, V, heads=HEADS, backend=backend)
    mask = None
    if ei is not None:
        mask = torch.zeros(V, V, dtype=torch.bool)
        mask[ei[1], ei[0]] = True
    x = torch.randn(frames, V, C, requires_grad=True)
    fn = (lambda: einsum_sgc(conv, x, mask)) if impl == "einsum" else (lambda: conv(x, ei))
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for r in range(repeats + 1):
        t = time.perf_counter()
        fn().square().mean().backward()
        if r:
            times.append(time.perf_counter() - t)
        x.grad = None
        conv.zero_grad()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"V": V, "edges": edges, "E": V * V if ei is None else int(ei.size(1)), "impl": impl,
            "chosen": conv.backend_for(ei) if impl == "auto" else impl,
            "frames": frames, "ms": 1000 * statistics.median(times),
            "peak_mb": (peak - base_rss) / 1024}


def dense_bytes(V: int, frames: int) -> float:
    # scores, softmax, coefficients and their gradients: ~6 [frames, H, V, V] tensors
    return 6 * 4.0 * frames * HEADS * V * V


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="V in {25, 137} only, 1 repeat")
    ap.add_argument("--mem-gb", type=float, default=10.0)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                  "bench_sgconv.json"))
    ap.add_argument("--one", nargs=5, metavar=("V", "EDGES", "IMPL", "FRAMES", "REPEATS"))
    ap.add_argument("--tables-only", action="store_true",
                    help="rewrite the .md/.csv tables from the JSON of --out")
    args = ap.parse_args()
    if args.tables_only:
        res = results_io.load(args.out)
        print(results_io.save(args.out, res["meta"], res["rows"], *table(res["rows"])))
        return
    if args.one:
        V, edges, impl, frames, repeats = args.one
        print(json.dumps(measure(int(V), edges, impl, int(frames), int(repeats))))
        return
    torch.set_num_threads(os.cpu_count() or 1)
    sizes = [25, 137] if args.quick else [25, 137, 500, 2000]
    repeats = 1 if args.quick else 3
    rows = []
    for V in sizes:
        for edges in ("complete", "khop2"):
            frames = FRAMES
            while frames > 1 and dense_bytes(V, frames) > args.mem_gb * 2 ** 30:
                frames //= 2
            for impl in ("einsum", "dense", "sparse", "auto"):
                if impl == "sparse" and edges == "complete" and V > 137:
                    continue  # V^2 edges through gather/scatter: pointless at this size
                cmd = [sys.executable, __file__, "--one", str(V), edges, impl, str(frames),
                       str(repeats)]
                res = subprocess.run(cmd, capture_output=True, text=True)
                if res.returncode != 0:
                    print(f"V={V} {edges} {impl}: failed\n{res.stderr[-500:]}", file=sys.stderr)
                    continue
                row = json.loads(res.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(f"V={V:5d} {edges:8s} E={row['E']:8d} frames={frames:5d} {impl:7s} "
                      f"({row['chosen']:6s}) {row['ms']:10.1f} ms  {row['peak_mb']:9.1f} MB",
                      flush=True)
    meta = {"machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "channels": C, "heads": HEADS}
    print(results_io.save(args.out, meta, rows, *table(rows)))


def table(rows):
    header = ["V", "edges", "E", "frames", "einsum ms", "dense ms", "sparse ms",
              "auto ms (path)", "auto / einsum", "einsum MB", "dense MB", "sparse MB"]
    body = []
    keys = sorted({(r["V"], r["edges"]) for r in rows}, key=lambda k: (k[0], k[1]))
    for V, edges in keys:
        by = {r["impl"]: r for r in rows if r["V"] == V and r["edges"] == edges}

        def ms(i):
            return f"{by[i]['ms']:.0f}" if i in by else "-"

        def mb(i):
            return f"{by[i]['peak_mb']:.0f}" if i in by else "-"
        any_row = next(iter(by.values()))
        ratio = (f"{by['auto']['ms'] / by['einsum']['ms']:.2f}"
                 if "auto" in by and "einsum" in by else "-")
        auto = f"{ms('auto')} ({by['auto']['chosen']})" if "auto" in by else "-"
        body.append([V, edges, any_row["E"], any_row["frames"], ms("einsum"), ms("dense"),
                     ms("sparse"), auto, ratio, mb("einsum"), mb("dense"), mb("sparse")])
    return header, body


if __name__ == "__main__":
    main()
