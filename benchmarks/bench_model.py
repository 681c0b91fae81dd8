"""Training-step and inference throughput of GE-CN against a plain dense
(InfoGCN-style) implementation of the same network, side by side in one run.

The plain implementation below is written in this file on purpose: it is the
reference formulation (channels-first ``[N, C, T, V]`` tensors, a Python loop
over heads with one 1x1 convolution each, ``einsum`` attention), with the same
parameter count as ``topogcn.models.GECN`` up to the summed per-head biases.

For ntu25 (2 persons) and openpose137 (1 person), batch 32, 64 frames,
60 / 32 classes: samples/s of a training step (forward, backward, SGD step)
and of inference (under ``torch.inference_mode``), peak resident memory (each
measurement in its own process), and GMAC per sample
(``torch.utils.flop_counter``).  Variants of topogcn: ``topogcn`` (eager,
float32, defaults: activation checkpointing on for openpose137),
``topogcn+bf16`` (``torch.autocast`` with bfloat16), ``topogcn+compile``
(``torch.compile``) and, for openpose137 training, ``topogcn, checkpoint
off``.  Before timing, both networks get the same weights and their logits
are compared (``max_relative_logit_difference`` in the JSON).

Every implementation runs in turn, ``--repeats`` rounds (default 2); the
table gives medians over the rounds and, for the ratios, the median of each
round's ratio to plain (with its range): the machine's speed drifts by up
to a quarter between minutes, and a round's processes run back to back.

Each process first runs at least ``--warmup`` untimed steps (default 2),
and more (up to 8) while a step is still more than 5% faster than the one
before, then times ``--steps`` steps (default 3) one by one and reports the
median step: the first steps of a process pay for the memory the allocator
has not yet recycled (up to 8 GB of fresh pages per step for the plain
network, settling over 3 to 5 steps; topogcn's ntu25 training steps still
fell 4.6, 3.8, 3.5 s after two warm-up steps), which is not what a training
run or a serving process sees after its first batches.  Every timed step
also records the memory the process faulted in afresh during it (minor
page faults times the page size: ``fresh_mb`` in the JSON, the median in
the "fresh MB/step" columns): the part of a step's time that depends on
whether the allocator kept or returned freed memory, which differs between
processes and between the two networks.

With ``--keep-memory``, every process runs with glibc told to keep freed
memory (``MALLOC_TRIM_THRESHOLD_`` large, ``MALLOC_MMAP_MAX_=0``): no page
faults after the first steps, so the ratio is that of the arithmetic and
memory traffic alone (written to ``bench_model_kept.json`` unless
``--out`` says otherwise; ``--configs ntu25 --repeats 3 --impls plain
topogcn`` for the committed table).
Memory that is never returned fragments: the plain network's openpose137
training then needs more than the 24 GB of this machine.

With ``--alternate N``, the plain network and topogcn (float32) also run
in one process, step by step in ABBA order, ``N`` steps each
(``bench_model_alternating.md``): the ratio least moved by the drift
between processes and minutes.

Usage: ``python benchmarks/bench_model.py [--quick] [--warmup W] [--steps N] [--repeats R]
[--impls IMPL ...] [--keep-memory]
[--alternate N] [--configs ntu25 ...]``
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

import results_io  # noqa: E402

from topogcn.models import GECN  # noqa: E402
from topogcn.nn import fuse  # noqa: E402
from topogcn.nn.functional import TUNING  # noqa: E402
from topogcn.skeleton import get_skeleton  # noqa: E402

CHANNELS = (64, 64, 64, 128, 128, 128, 256, 256, 256)
STRIDES = (1, 1, 1, 2, 1, 1, 2, 1, 1)


# --------------------------------------------------- the plain reference network
class PlainSAGC(nn.Module):
    def __init__(self, cin: int, cout: int, V: int, heads: int = 3) -> None:
        super().__init__()
        self.heads, self.d = heads, max(1, cin // 8)
        self.topology = nn.Parameter(torch.eye(V).repeat(heads, 1, 1))
        self.ln = nn.LayerNorm(cin)
        self.to_qk = nn.Linear(cin, 2 * heads * self.d)
        self.conv_d = nn.ModuleList(nn.Conv2d(cin, cout, 1) for _ in range(heads))
        self.down = (nn.Sequential(nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout))
                     if cin != cout else nn.Identity())
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):  # [N, C, T, V]
        N, C, T, V = x.shape
        y = self.to_qk(self.ln(x.permute(0, 2, 3, 1).contiguous()))
        q, k = y.chunk(2, dim=-1)
        q = q.reshape(N * T, V, self.heads, self.d).permute(0, 2, 1, 3)
        k = k.reshape(N * T, V, self.heads, self.d).permute(0, 2, 1, 3)
        attn = torch.einsum("bhid,bhjd->bhij", q, k).mul(self.d ** -0.5).softmax(-1)
        A = attn * self.topology.unsqueeze(0)
        feat = x.permute(0, 2, 3, 1).reshape(N * T, V, C)
        out = None
        for h in range(self.heads):
            z = (A[:, h] @ feat).reshape(N, T, V, C).permute(0, 3, 1, 2).contiguous()
            z = self.conv_d[h](z)
            out = z if out is None else out + z
        return F.relu(self.bn(out) + self.down(x))


class PlainMSTC(nn.Module):
    """MS-G3D's multi-scale temporal convolution as InfoGCN writes it: four
    branches of C/4 channels on channels-first tensors (two dilated 5x1
    convolutions, a 3x1 max-pool, a strided 1x1 convolution), concatenated."""

    def __init__(self, c: int, stride: int, kernel: int = 5, dilations=(1, 2)) -> None:
        super().__init__()
        b = c // 4
        self.branches = nn.ModuleList()
        for d in dilations:
            pad = (kernel + (kernel - 1) * (d - 1) - 1) // 2
            self.branches.append(nn.Sequential(
                nn.Conv2d(c, b, 1), nn.BatchNorm2d(b), nn.ReLU(inplace=True),
                nn.Conv2d(b, b, (kernel, 1), stride=(stride, 1), padding=(pad, 0),
                          dilation=(d, 1)),
                nn.BatchNorm2d(b)))
        self.branches.append(nn.Sequential(
            nn.Conv2d(c, b, 1), nn.BatchNorm2d(b), nn.ReLU(inplace=True),
            nn.MaxPool2d((3, 1), stride=(stride, 1), padding=(1, 0)), nn.BatchNorm2d(b)))
        self.branches.append(nn.Sequential(
            nn.Conv2d(c, b, 1, stride=(stride, 1)), nn.BatchNorm2d(b)))

    def forward(self, x):  # [N, C, T, V]
        return F.relu(torch.cat([branch(x) for branch in self.branches], dim=1))


class PlainBlock(nn.Module):
    def __init__(self, cin: int, cout: int, V: int, stride: int) -> None:
        super().__init__()
        self.gcn = PlainSAGC(cin, cout, V)
        self.tcn = PlainMSTC(cout, stride)
        self.res = (nn.Identity() if cin == cout and stride == 1 else
                    nn.Sequential(nn.Conv2d(cin, cout, 1, stride=(stride, 1)),
                                  nn.BatchNorm2d(cout)))

    def forward(self, x):
        return F.relu(self.tcn(self.gcn(x)) + self.res(x))


class PlainInfoGCN(nn.Module):
    def __init__(self, num_classes: int, V: int, M: int, C: int = 3) -> None:
        super().__init__()
        self.emb = nn.Linear(C, 64)
        self.pos = nn.Parameter(torch.randn(1, V, 64))
        self.data_bn = nn.BatchNorm1d(M * V * 64)
        blocks, cin = [], 64
        for c, s in zip(CHANNELS, STRIDES):
            blocks.append(PlainBlock(cin, c, V, s))
            cin = c
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(256, 256)
        self.mu, self.logvar = nn.Linear(256, 256), nn.Linear(256, 256)
        self.cls = nn.Linear(256, num_classes)

    def forward(self, x):  # [N, M, T, V, C]
        N, M, T, V, C = x.shape
        h = self.emb(x) + self.pos
        h = h.permute(0, 1, 3, 4, 2).reshape(N, M * V * 64, T)
        h = self.data_bn(h).view(N, M, V, 64, T).permute(0, 1, 3, 4, 2).reshape(N * M, 64, T, V)
        h = self.blocks(h).mean((2, 3)).view(N, M, -1).mean(1)
        h = F.relu(self.fc(h))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.randn_like(mu) * (0.1 * logvar).exp() if self.training else mu
        return self.cls(z)


def _copy(dst, src) -> None:
    """Parameters and buffers of ``src`` into ``dst`` (same shapes)."""
    with torch.no_grad():
        for name, t in list(dst.named_parameters()) + list(dst.named_buffers()):
            t.copy_(dict(src.named_parameters(), **dict(src.named_buffers()))[name].reshape(
                t.shape))


def copy_weights(plain: PlainInfoGCN, model) -> PlainInfoGCN:
    """Load a topogcn GECN's weights into the plain network, module by module
    (the only place this file reads topogcn's parameter layout: the MS-TC
    branches are slices of topogcn's fused convolutions; the per-head biases
    are topogcn's summed bias on head 0), so that both compute one function
    and their outputs can be compared."""
    with torch.no_grad():
        plain.emb.load_state_dict(model.embedding.lin.state_dict())
        plain.pos.copy_(model.embedding.pos_embedding.unsqueeze(0))
        plain.data_bn.load_state_dict(model.data_bn.state_dict())
        for pb, tb in zip(plain.blocks, model.blocks):
            g, tg = pb.gcn, tb.gcn
            g.topology.copy_(tg.topology)
            g.ln.load_state_dict(tg.norm.state_dict())
            g.to_qk.load_state_dict(tg.lin_qk.state_dict())
            for h, conv in enumerate(g.conv_d):
                conv.weight.copy_(tg.weight[h].t()[:, :, None, None])
                conv.bias.copy_(tg.bias if h == 0 else torch.zeros_like(tg.bias))
            g.bn.load_state_dict(tb.gcn_norm.state_dict())
            if isinstance(g.down, nn.Sequential):
                _copy(g.down[0], tb.down.conv)
                g.down[1].load_state_dict(tb.down.bn.state_dict())
            tc, c = tb.tcn, tb.tcn.branch_channels
            for i, branch in enumerate(pb.tcn.branches):
                rows = slice(i * c, (i + 1) * c)
                if i < 3:  # 1x1 conv, BN, ReLU, temporal conv or max-pool, BN
                    branch[0].weight.copy_(tc.expand.weight[rows])
                    branch[0].bias.copy_(tc.expand.bias[rows])
                    bns = ((branch[1], tc.expand_bn), (branch[4], tc.out_bn))
                    if i < 2:
                        _copy(branch[3], tc.temporal[i])
                else:  # the strided 1x1 branch
                    _copy(branch[0], tc.pointwise_conv)
                    bns = ((branch[1], tc.out_bn),)
                for bn, src in bns:
                    for name in ("weight", "bias", "running_mean", "running_var"):
                        getattr(bn, name).copy_(getattr(src, name)[rows])
            if isinstance(pb.res, nn.Sequential):
                _copy(pb.res[0], tb.residual.conv)
                pb.res[1].load_state_dict(tb.residual.bn.state_dict())
        for dst, src in ((plain.fc, model.fc[0]), (plain.mu, model.fc_mu),
                         (plain.logvar, model.fc_logvar), (plain.cls, model.classifier)):
            dst.load_state_dict(src.state_dict())
    return plain


def max_logit_difference(name: str, frames: int = 16) -> dict:
    """Same weights (trained-looking: perturbed parameters and batch-norm
    statistics), one batch: the largest difference between topogcn's logits
    and the plain network's, in evaluation (float32, inference mode) and in
    training mode (batch statistics; the same latent noise drawn in both)."""
    torch.manual_seed(0)
    skel, M, K = CONFIGS[name]
    model = GECN(K, skel, num_person=M)  # noise ratio 0.1, the plain network's
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    plain = copy_weights(PlainInfoGCN(K, get_skeleton(skel).num_nodes, M), model)
    x = torch.randn(4, M, frames, model.num_nodes, 3)
    out = {}
    with torch.inference_mode():
        model.eval(), plain.eval()
        a, b = fuse(model)(x), plain(x)
        out["eval"] = float((a - b).abs().max() / b.abs().max())
        model.train(), plain.train()
        torch.manual_seed(1)
        a = model(x)
        torch.manual_seed(1)
        b = plain(x)
        out["train"] = float((a - b).abs().max() / b.abs().max())
    return out


CONFIGS = {"ntu25": ("ntu25", 2, 60), "openpose137": ("openpose137", 1, 32)}
NO_CHECKPOINT = "topogcn, checkpoint off"
IMPLS = ("plain", "topogcn", "topogcn+bf16", "topogcn+compile")
#: glibc settings under which freed memory stays in the process (no trimming
#: of the heap, no memory-mapped chunks): ``--keep-memory``
KEEP_MEMORY_ENV = {"MALLOC_TRIM_THRESHOLD_": str(1 << 36), "MALLOC_MMAP_MAX_": "0"}


def build(impl: str, name: str, mode: str = "train"):
    """The network of ``impl``; for inference, topogcn's as a user runs it
    (``topogcn.nn.fuse``)."""
    skel, M, K = CONFIGS[name]
    V = get_skeleton(skel).num_nodes
    model = (PlainInfoGCN(K, V, M) if impl == "plain" else
             GECN(K, skel, num_person=M, checkpoint=False if impl == NO_CHECKPOINT else "auto"))
    if mode == "eval" and impl != "plain":
        model = fuse(model)
    if impl == "topogcn+compile":
        model = torch.compile(model)
    return model, M, V, K


def run_step(model, opt, mode: str, x, y) -> None:
    """One training step (forward, backward, SGD step) or one inference
    batch under ``torch.inference_mode``."""
    if mode == "train":
        model.train()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    else:
        model.eval()
        with torch.inference_mode():
            model(x)


def fresh_pages_mb() -> float:
    """Memory this process has faulted in so far (minor page faults times the
    page size), in MB: what a step costs the operating system beyond its
    arithmetic when the allocator has handed freed memory back."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt * resource.getpagesize() / 2 ** 20


def timed(step) -> tuple:
    """``step()``'s duration in seconds and the MB of fresh pages it faulted in."""
    pages, t = fresh_pages_mb(), time.perf_counter()
    step()
    return time.perf_counter() - t, fresh_pages_mb() - pages


def measure(impl: str, name: str, mode: str, batch: int, frames: int, steps: int,
            warmup: int = 2) -> dict:
    torch.manual_seed(0)
    model, M, V, K = build(impl, name, mode)
    x = torch.randn(batch, M, frames, V, 3)
    y = torch.randint(0, K, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=impl.endswith("+bf16"))

    def step():
        with autocast:
            run_step(model, opt, mode, x, y)

    warm = warm_up(step, warmup)  # (and compilation)
    times, fresh = zip(*(timed(step) for _ in range(steps)))
    dt = _median(times)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"impl": impl, "config": name, "mode": mode, "batch": batch, "frames": frames,
            "warmup": warmup, "warmup_s": warm, "step_s": list(times), "fresh_mb": list(fresh),
            "samples_per_s": batch / dt,
            "peak_mb": (peak - base) / 1024,
            "params": sum(p.numel() for p in model.parameters())}


def alternate(name: str, mode: str, batch: int, frames: int, steps: int,
              warmup: int = 2, impls: tuple = ("plain", "topogcn")) -> dict:
    """The plain network and topogcn (float32, defaults) -- or the given
    ``impls`` -- in one process, step by step in ABBA order (plain, topogcn,
    topogcn, plain, then the reverse): all see the same minutes of the
    machine and the same allocator, so their ratio does not carry the drift
    between processes and minutes that the per-process rounds average over."""
    torch.manual_seed(0)
    built = {impl: build(impl, name, mode) for impl in impls}
    nets = {impl: b[0] for impl, b in built.items()}
    _, M, V, K = built[impls[0]]
    x = torch.randn(batch, M, frames, V, 3)
    y = torch.randint(0, K, (batch,))
    opts = {impl: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
            for impl, m in nets.items()}

    def step(impl: str) -> tuple:
        # ``topogcn+accurate-bn``: trainer.accurate_batch_norm (bench_numerics.py)
        TUNING.accurate_batch_norm = impl.endswith("+accurate-bn")
        return timed(lambda: run_step(nets[impl], opts[impl], mode, x, y))

    warm = warm_up(lambda: [step(impl) for impl in impls], warmup)
    times, fresh = {impl: [] for impl in impls}, {impl: [] for impl in impls}
    order = tuple(impls) + tuple(impls)[::-1]
    for _ in range(-(-steps // 2)):
        for impl in order:
            t, mb = step(impl)
            times[impl].append(t)
            fresh[impl].append(mb)
    return {"config": name, "mode": mode, "batch": batch, "frames": frames, "warmup": warmup,
            "warmup_s": warm, "step_s": times, "fresh_mb": fresh}


#: at most this many warm-up steps (see :func:`warm_up`)
MAX_WARMUP = 8


def warm_up(step, minimum: int) -> list:
    """Untimed steps: at least ``minimum``, then more while a step is still
    more than 5% faster than the one before (the allocator still settling:
    topogcn's ntu25 training steps fall 4.6, 3.8, 3.5 s over its third to
    fifth steps), at most :data:`MAX_WARMUP`.  Returns their durations
    (for a pair of steps, their sum)."""
    times = []
    while len(times) < MAX_WARMUP:
        times.append(timed(step)[0])
        if len(times) >= max(1, minimum) and (
                len(times) < 2 or times[-1] > 0.95 * times[-2]):
            break
    return times


def alternating_table(runs):
    header = ["config", "mode", "steps each", "plain s/step", "topogcn s/step", "x plain",
              "plain fresh MB/step", "topogcn fresh MB/step"]
    body = []
    for r in runs:
        p, t = _median(r["step_s"]["plain"]), _median(r["step_s"]["topogcn"])
        fresh = r.get("fresh_mb", {})
        body.append([r["config"], r["mode"], str(len(r["step_s"]["plain"])), f"{p:.3f}",
                     f"{t:.3f}", f"{p / t:.2f}",
                     *(_fresh(fresh.get(impl)) for impl in ("plain", "topogcn"))])
    return header, body


def _fresh(values) -> str:
    """The median of per-step fresh-page MB (``-`` for results without them)."""
    return "-" if not values else f"{_median(values):.0f}"


def gmacs(name: str, frames: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode
    model, M, V, K = build("topogcn", name, "eval")
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(torch.randn(1, M, frames, V, 3))
    return fc.get_total_flops() / 2e9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="ntu25 only, batch 8, 1 step")
    ap.add_argument("--warmup", type=int, default=2,
                    help="at least this many untimed steps first in every process, and "
                         "more while the steps still get faster (the allocator settles)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps (their median counts)")
    ap.add_argument("--repeats", type=int, default=2,
                    help="rounds of every implementation in turn (the ratios are the "
                         "median over rounds of each round's ratio to plain)")
    ap.add_argument("--out", help="results JSON (default: results/bench_model.json, "
                                  "with --keep-memory results/bench_model_kept.json)")
    ap.add_argument("--one", nargs=7, metavar=("IMPL", "CONFIG", "MODE", "BATCH", "FRAMES",
                                               "STEPS", "WARMUP"))
    ap.add_argument("--alternate", type=int, default=0, metavar="N",
                    help="also time plain and topogcn (float32) in one process, N steps "
                         "each in ABBA order (0: off)")
    ap.add_argument("--alternate-one", nargs=6, metavar=("CONFIG", "MODE", "BATCH", "FRAMES",
                                                         "STEPS", "WARMUP"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--configs", nargs="+", choices=sorted(CONFIGS),
                    help="measure only these (the other configs' rows are kept from --out)")
    ap.add_argument("--impls", nargs="+", choices=IMPLS,
                    help="measure only these implementations (default: all)")
    ap.add_argument("--keep-memory", action="store_true",
                    help="run every measurement with glibc keeping freed memory "
                         "(MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_MAX_=0): the comparison "
                         "without page faults, in its own results file")
    ap.add_argument("--tables-only", action="store_true",
                    help="rewrite the .md/.csv tables from the JSON of --out")
    args = ap.parse_args()
    if args.out is None:
        args.out = os.path.join(os.path.dirname(__file__), "results",
                                "bench_model_kept.json" if args.keep_memory else "bench_model.json")
    if args.tables_only:
        res = results_io.load(args.out)
        print(results_io.save(args.out, res["meta"], res["rows"],
                              *table(res["rows"], res["meta"]["gmac_per_sample"])))
        if res["meta"].get("alternating"):
            print(results_io.save_table(os.path.splitext(args.out)[0] + "_alternating",
                                        *alternating_table(res["meta"]["alternating"])))
        return
    if args.alternate_one:
        name, mode, b, f, s, w = args.alternate_one
        print(json.dumps(alternate(name, mode, int(b), int(f), int(s), int(w))))
        return
    if args.one:
        impl, name, mode, b, f, s, w = args.one
        print(json.dumps(measure(impl, name, mode, int(b), int(f), int(s), int(w))))
        return
    configs = ["ntu25"] if args.quick else args.configs or ["ntu25", "openpose137"]
    batch, frames, steps, warmup = (8, 64, 1, 1) if args.quick else \
        (32, 64, args.steps, args.warmup)
    rows, kept = [], {"gmac_per_sample": {}, "max_relative_logit_difference": {}}
    alternating = []
    if args.configs and os.path.isfile(args.out):  # keep the rows of the other configs
        old = results_io.load(args.out)
        rows = [r for r in old["rows"] if r["config"] not in configs]
        kept = {k: {c: v for c, v in old["meta"].get(k, {}).items() if c not in configs}
                for k in kept}
        alternating = [r for r in old["meta"].get("alternating", [])
                       if r["config"] not in configs or not args.alternate]
    repeats = 1 if args.quick else args.repeats
    env = dict(os.environ, **KEEP_MEMORY_ENV) if args.keep_memory else None
    for name in configs:
        for mode in ("train", "eval"):
            impls = tuple(args.impls or IMPLS) + (
                (NO_CHECKPOINT,) if name == "openpose137" and mode == "train"
                and not args.impls else ())
            # every implementation in turn, `repeats` rounds: a slow spell of
            # the machine hits both sides of a round's ratios alike
            for r in range(repeats):
                for impl in impls:
                    cmd = [sys.executable, __file__, "--one", impl, name, mode, str(batch),
                           str(frames), str(steps), str(warmup)]
                    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
                    if res.returncode != 0:
                        print(f"{impl} {name} {mode}: failed\n{res.stderr[-800:]}",
                              file=sys.stderr)
                        continue
                    row = dict(json.loads(res.stdout.strip().splitlines()[-1]), round=r)
                    rows.append(row)
                    print(f"{name:12s} {mode:5s} {impl:24s} round {r}: "
                          f"{row['samples_per_s']:8.2f} samples/s {row['peak_mb']:9.0f} MB",
                          flush=True)
    for name in configs if args.alternate else ():
        for mode in ("train", "eval"):
            cmd = [sys.executable, __file__, "--alternate-one", name, mode, str(batch),
                   str(frames), str(args.alternate), str(warmup)]
            res = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if res.returncode != 0:
                print(f"alternating {name} {mode}: failed\n{res.stderr[-800:]}",
                      file=sys.stderr)
                continue
            alternating.append(json.loads(res.stdout.strip().splitlines()[-1]))
            print(f"{name:12s} {mode:5s} one process, ABBA: x plain "
                  f"{alternating_table(alternating[-1:])[1][0][-1]}", flush=True)
    macs = dict(kept["gmac_per_sample"], **{name: gmacs(name, frames) for name in configs})
    diffs = dict(kept["max_relative_logit_difference"],
                 **{name: max_logit_difference(name) for name in configs})
    for name, d in diffs.items():  # (the kept configs' are from their own run)
        print(f"{name}: largest logit difference to the plain network (relative to its largest "
              f"logit), same weights: eval {d['eval']:.1e}, train {d['train']:.1e}")
    meta = {"machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "warmup_steps": warmup, "timed_steps": steps,
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "gmac_per_sample": macs, "max_relative_logit_difference": diffs,
            "alternating": alternating,
            "allocator": KEEP_MEMORY_ENV if args.keep_memory else "default"}
    print(results_io.save(args.out, meta, rows, *table(rows, macs)))
    if alternating:
        stem = os.path.splitext(args.out)[0] + "_alternating"
        print(results_io.save_table(stem, *alternating_table(alternating)))


def table(rows, macs):
    """Per implementation: the median samples/s and peak memory over the
    rounds, and the median over rounds of the ratio to plain within the
    round (with its range when there are several rounds)."""
    header = ["config", "mode", "implementation", "samples/s", "x plain", "peak MB",
              "x plain (memory)", "fresh MB/step", "GMAC/sample"]
    body = []
    for name in dict.fromkeys(r["config"] for r in rows):
        for mode in ("train", "eval"):
            sel = [r for r in rows if r["config"] == name and r["mode"] == mode]
            plain = {r.get("round", 0): r for r in sel if r["impl"] == "plain"}
            if not plain:
                continue
            for impl in dict.fromkeys(r["impl"] for r in sel):
                mine = [r for r in sel if r["impl"] == impl and r.get("round", 0) in plain]
                speed = [r["samples_per_s"] / plain[r.get("round", 0)]["samples_per_s"]
                         for r in mine]
                memory = [r["peak_mb"] / plain[r.get("round", 0)]["peak_mb"] for r in mine]
                ratio = f"{_median(speed):.2f}"
                if len(speed) > 1:
                    ratio += f" ({min(speed):.2f}-{max(speed):.2f})"
                body.append([name, mode, impl, f"{_median([r['samples_per_s'] for r in mine]):.2f}",
                             ratio, f"{_median([r['peak_mb'] for r in mine]):.0f}",
                             f"{_median(memory):.2f}",
                             _fresh([_median(r["fresh_mb"]) for r in mine if r.get("fresh_mb")]),
                             f"{macs[name]:.2f}"])
    return header, body


def _median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])


if __name__ == "__main__":
    main()
