"""Load on ``ferkit serve``: N concurrent clients upload real photos over loopback; prints JSON.

Starts the server (``python -m ferkit serve``) once per ``--max-batch`` value, so
micro-batching and one-at-a-time are compared in the same run, on the same photos.
Bounded: at most ``--requests`` uploads and ``--max-seconds`` per server.

    python bench/serve_load.py --photos ../shared/data/photos/facial_expressions_sample.zip \\
        --model m.pt --clients 200 --requests 600 --max-batch 16 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

SUFFIXES = (".jpg", ".jpeg", ".png")


def load_photos(source: str, limit: int) -> list[tuple[str, bytes]]:
    """(name, bytes) of up to ``limit`` photos from a zip or a folder, held in memory."""
    if source.endswith(".zip"):
        with zipfile.ZipFile(source) as z:
            names = sorted(n for n in z.namelist() if n.lower().endswith(SUFFIXES))[:limit]
            return [(Path(n).name, z.read(n)) for n in names]
    files = sorted(p for p in Path(source).rglob("*") if p.suffix.lower() in SUFFIXES)[:limit]
    return [(p.name, p.read_bytes()) for p in files]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str | None, max_batch: int, port: int) -> subprocess.Popen:
    import httpx

    cmd = [sys.executable, "-m", "ferkit", "serve", "--port", str(port), "--max-batch", str(max_batch)]
    proc = subprocess.Popen(cmd + (["--model", model] if model else []), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode()[-500:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not start within 120 s")


async def hammer(url: str, photos: list[tuple[str, bytes]], clients: int, requests: int, seconds: float) -> dict:
    import httpx

    latencies, errors, sent = [], [], 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < requests and time.monotonic() < deadline:
            name, data = photos[sent % len(photos)]
            sent += 1
            start = time.perf_counter()
            try:
                r = await http.post(f"{url}/v1/predict", files={"file": (name, data, "image/jpeg")})
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:120]}")
            except httpx.HTTPError as e:
                errors.append(f"{type(e).__name__}: {e}")
            latencies.append(time.perf_counter() - start)

    async with httpx.AsyncClient(limits=limits, timeout=300) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        wall = time.perf_counter() - start
        health = (await http.get(f"{url}/v1/health")).json()
    ms = np.array(latencies) * 1000
    return {"requests": len(latencies), "errors": len(errors), "error_examples": errors[:3],
            "wall_s": round(wall, 2), "requests_per_s": round(len(latencies) / wall, 2),
            "latency_ms": {q: round(float(np.percentile(ms, int(q[1:]))), 1) for q in ("p50", "p95", "p99")},
            "batching": health["batching"]}


def run_one(args, photos, max_batch: int) -> dict:
    port = free_port()
    proc = start_server(args.model, max_batch, port)
    try:
        url = f"http://127.0.0.1:{port}"
        asyncio.run(hammer(url, photos, min(8, args.clients), min(16, args.requests), 60))  # warm-up
        before = rss_mb(proc.pid)
        result = asyncio.run(hammer(url, photos, args.clients, args.requests, args.max_seconds))
        after = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"max_batch": max_batch, **result, "rss_mb": {"before": round(before, 1), "after": round(after, 1),
                                                         "growth": round(after - before, 1)}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", required=True, help="zip or folder of real photos")
    p.add_argument("--model", help="checkpoint or .onnx (default: the shipped model)")
    p.add_argument("--clients", type=int, default=200, help="concurrent clients")
    p.add_argument("--requests", type=int, default=600, help="uploads per server run (bound)")
    p.add_argument("--max-seconds", type=float, default=240, help="time bound per server run")
    p.add_argument("--max-batch", type=int, nargs="+", default=[16, 1], help="server --max-batch values to compare")
    p.add_argument("--limit-photos", type=int, default=300)
    args = p.parse_args()
    photos = load_photos(args.photos, args.limit_photos)
    runs = [run_one(args, photos, b) for b in args.max_batch]
    out = {"photos": len(photos), "clients": args.clients, "cpus": os.cpu_count(),
           "model": args.model or "shipped", "runs": runs}
    if len(runs) > 1 and runs[-1]["requests_per_s"]:
        out["throughput_gain"] = round(runs[0]["requests_per_s"] / runs[-1]["requests_per_s"], 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
