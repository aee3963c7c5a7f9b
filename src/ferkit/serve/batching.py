"""Micro-batching: the faces of requests that arrive together go through the classifier in one call.

On a CPU one classifier call on 16 faces costs far less than 16 calls on one face
(per-call overhead, better vectorisation), so under load the first request of a
batch waits up to ``max_wait_ms`` for others to join. The classifier runs on one
worker thread, off the event loop; while it runs the next batch fills by itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

Classify = Callable[[np.ndarray], np.ndarray]


@dataclass
class BatchStats:
    """What the batcher has done since start-up (shown by ``GET /v1/health``)."""

    requests: int = 0
    batches: int = 0
    faces: int = 0
    largest: int = 0

    def to_dict(self) -> dict:
        mean = self.requests / self.batches if self.batches else 0.0
        return {"requests": self.requests, "batches": self.batches, "faces": self.faces,
                "largest_batch": self.largest, "mean_batch": round(mean, 2)}


@dataclass
class _Job:
    faces: np.ndarray  # (N, H, W) uint8
    key: Hashable
    done: asyncio.Future


class MicroBatcher:
    """Collects classification jobs from concurrent requests and runs them in shared calls.

    Args:
        classifiers: the function to run for each job key (e.g. ``{False: plain, True: with_tta}``);
            jobs with different keys share a batch but not a call.
        max_batch: most requests merged into one batch; 1 classifies requests one at a time.
        max_wait_ms: how long the first request of a batch waits for more to arrive.
    """

    def __init__(self, classifiers: dict[Hashable, Classify], max_batch: int = 16, max_wait_ms: float = 5.0) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self.classifiers, self.max_batch, self.max_wait = classifiers, max_batch, max_wait_ms / 1000
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task | None = None
        # One thread: the backend uses every core itself, two calls at once would only contend.
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="ferkit-classify")

    def start(self) -> None:
        """Start collecting; call from inside the running event loop (the app's lifespan)."""
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._collect())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._worker.shutdown(wait=True)

    async def classify(self, faces: np.ndarray, key: Hashable = False) -> np.ndarray:
        """(N, H, W) uint8 faces -> (N, C) probabilities, computed in a batch with other requests' faces."""
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        if key not in self.classifiers:
            raise KeyError(f"no classifier for key {key!r}")
        done = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(faces, key, done))
        return await done

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.max_wait
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), left))
                except TimeoutError:
                    break
            await self._run(batch)

    async def _run(self, batch: list[_Job]) -> None:
        loop = asyncio.get_running_loop()
        self.stats.batches += 1
        self.stats.requests += len(batch)
        self.stats.largest = max(self.stats.largest, len(batch))
        for key in dict.fromkeys(job.key for job in batch):
            jobs = [job for job in batch if job.key == key and not job.done.cancelled()]
            faces = [job.faces for job in jobs if len(job.faces)]
            try:
                probs = await loop.run_in_executor(self._worker, self.classifiers[key], np.concatenate(faces)) \
                    if faces else None
            except Exception as e:  # noqa: BLE001 - handed to the waiting requests, which answer 500
                for job in jobs:
                    if not job.done.done():
                        job.done.set_exception(e)
                continue
            start = 0
            for job in jobs:
                n = len(job.faces)
                self.stats.faces += n
                mine = probs[start:start + n] if n else np.empty((0, 0), np.float32)
                start += n
                if not job.done.done():
                    job.done.set_result(mine)
