"""Training images/s of every registered model size: fp32 vs bf16 autocast, contiguous vs channels_last.

Also measures the data side of a step (uint8 -> float, batched augmentation) as a share of it.
Prints JSON. Run it on a quiet machine, with the fast allocator the CLI uses:

    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296 python bench/train_throughput.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch
import torch.nn.functional as F

from ferkit.data.preprocess import to_input
from ferkit.models import create_model, list_models
from ferkit.training.augment import AugmentConfig, augment
from ferkit.training.checkpoint import DEFAULT_NORMALIZATION


def timed(fn, steps: int) -> float:
    """Median seconds of ``fn`` over ``steps`` runs after one warm-up run."""
    fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def measure(name: str, batch: int, steps: int, bf16: bool, channels_last: bool, device: str) -> float:
    model = create_model(name).to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 1, 48, 48, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 7, (batch,), device=device)
    dtype = torch.bfloat16

    def step():
        with torch.autocast(device_type=device, dtype=dtype, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()

    return batch / timed(step, steps)


def data_side_seconds(batch: int, steps: int, device: str) -> float:
    faces = torch.randint(0, 256, (batch, 48, 48), dtype=torch.uint8)
    config = AugmentConfig()

    def prepare():
        augment(to_input(faces, DEFAULT_NORMALIZATION).to(device), config)
        if device == "cuda":
            torch.cuda.synchronize()

    return timed(prepare, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per setting (after one warm-up)")
    parser.add_argument("--models", nargs="*", default=list_models())
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"],
                        help="bf16 autocast is several times slower on CPUs with neither AMX nor AVX-512 BF16: "
                             "skip it for big models there")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for name in args.models:
        row = {"model": name, "params": sum(p.numel() for p in create_model(name).parameters())}
        for channels_last in (False, True):
            for bf16 in [p == "bf16" for p in args.precisions]:
                key = f"{'bf16' if bf16 else 'fp32'}_{'channels_last' if channels_last else 'contiguous'}"
                row[key] = round(measure(name, args.batch, args.steps, bf16, channels_last, args.device), 1)
        best = max(v for k, v in row.items() if k.startswith(("fp32", "bf16")))
        row["best_images_per_s"] = best
        row["epoch_s_fer2013_train"] = round(28709 / best, 1)
        results.append(row)
        print(json.dumps(row), flush=True)
    data_s = data_side_seconds(args.batch, args.steps, args.device)
    out = {
        "bench": "train_throughput",
        "device": args.device if args.device == "cpu" else torch.cuda.get_device_name(),
        "cpu": platform.processor() or platform.machine(),
        "threads": args.threads,
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
        "batch": args.batch,
        "torch": torch.__version__,
        "models": results,
        "data_side_ms_per_batch": round(data_s * 1000, 2),
        "data_side_share_of_step": {r["model"]: round(data_s / (data_s + args.batch / r["best_images_per_s"]), 4)
                                    for r in results},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
