"""Micro-batching: concurrent jobs share classifier calls, each gets its own rows back."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from ferkit.serve.batching import MicroBatcher


def _calls_recorder():
    calls = []

    def classify(faces):
        calls.append(len(faces))
        return faces.reshape(len(faces), -1)[:, :1].astype(np.float32)  # each face's first pixel: traceable

    return calls, classify


def _run(batcher, jobs):
    async def main():
        batcher.start()
        try:
            return await asyncio.gather(*(batcher.classify(faces, key) for faces, key in jobs))
        finally:
            await batcher.stop()

    return asyncio.run(main())


def _faces(first: int, n: int) -> np.ndarray:
    faces = np.zeros((n, 4, 4), np.uint8)
    faces[:, 0, 0] = np.arange(first, first + n)
    return faces


def test_concurrent_jobs_share_one_call_and_get_their_own_rows():
    calls, classify = _calls_recorder()
    batcher = MicroBatcher({False: classify}, max_batch=8, max_wait_ms=200)
    jobs = [(_faces(10 * i, i + 1), False) for i in range(6)]
    out = _run(batcher, jobs)
    assert calls == [sum(range(1, 7))]
    for i, probs in enumerate(out):
        assert probs[:, 0].tolist() == list(range(10 * i, 10 * i + i + 1))
    assert batcher.stats.batches == 1 and batcher.stats.requests == 6 and batcher.stats.faces == 21


def test_max_batch_1_classifies_one_request_at_a_time():
    calls, classify = _calls_recorder()
    batcher = MicroBatcher({False: classify}, max_batch=1, max_wait_ms=200)
    _run(batcher, [(_faces(0, 2), False) for _ in range(5)])
    assert calls == [2] * 5 and batcher.stats.largest == 1


def test_keys_share_a_batch_but_not_a_call():
    plain_calls, plain = _calls_recorder()
    tta_calls, tta = _calls_recorder()
    batcher = MicroBatcher({False: plain, True: tta}, max_batch=8, max_wait_ms=200)
    _run(batcher, [(_faces(0, 1), False), (_faces(0, 2), True), (_faces(0, 3), False)])
    assert plain_calls == [4] and tta_calls == [2] and batcher.stats.batches == 1


def test_a_failing_classifier_fails_its_requests_only():
    def broken(faces):
        raise RuntimeError("boom")

    batcher = MicroBatcher({False: broken}, max_batch=4, max_wait_ms=1)

    async def main():
        batcher.start()
        try:
            with pytest.raises(RuntimeError, match="boom"):
                await batcher.classify(_faces(0, 1))
            with pytest.raises(RuntimeError, match="boom"):  # the loop survived the first failure
                await batcher.classify(_faces(0, 1))
        finally:
            await batcher.stop()

    asyncio.run(main())


@pytest.mark.parametrize("options", [{"max_batch": 0}, {"max_wait_ms": -1}])
def test_bad_settings(options):
    with pytest.raises(ValueError):
        MicroBatcher({False: print}, **options)
