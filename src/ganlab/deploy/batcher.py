"""Coalesce concurrent generation requests into one generator call.

Many small requests (a handful of images each) waste most of a forward pass on overhead. The
batcher waits up to ``window_ms`` after the first queued request for others, concatenates their
noise and labels up to ``max_batch`` images, runs the backend once in a worker thread, and hands
each request its slice. Noise is drawn per request, so a seeded request gets the same images
whether or not it shared a batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import dataclass, field

import numpy as np

from ganlab.deploy.backends import GeneratorBackend


@dataclass
class BatcherStats:
    requests: int = 0
    batches: int = 0
    images: int = 0
    largest_batch: int = 0


@dataclass
class _Pending:
    noise: np.ndarray
    labels: np.ndarray
    future: asyncio.Future[np.ndarray] = field(repr=False)


class Batcher:
    def __init__(self, backend: GeneratorBackend, max_batch: int = 1024, window_ms: float = 2.0):
        self.backend = backend
        self.max_batch = max_batch
        self.window = window_ms / 1000.0
        self.stats = BatcherStats()
        self._queue: asyncio.Queue[_Pending] | None = None
        self._task: asyncio.Task | None = None
        # One thread: the backend runs one batch at a time, using all its own threads.
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._serve())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=True)

    @property
    def _requests(self) -> asyncio.Queue[_Pending]:
        """The request queue, which :meth:`start` creates inside the serving event loop."""
        if self._queue is None:
            raise RuntimeError("Batcher.start() must be awaited before requests are queued")
        return self._queue

    async def generate(self, noise: np.ndarray, labels: np.ndarray) -> np.ndarray:
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        await self._requests.put(_Pending(noise, labels, future))
        return await future

    async def _collect(self) -> list[_Pending]:
        loop = asyncio.get_running_loop()
        queue = self._requests
        batch = [await queue.get()]
        size = len(batch[0].labels)
        deadline = loop.time() + self.window
        while size < self.max_batch:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                item = await asyncio.wait_for(queue.get(), remaining)
            except TimeoutError:
                break
            if size + len(item.labels) > self.max_batch:
                queue.put_nowait(item)  # goes into the next batch
                break
            batch.append(item)
            size += len(item.labels)
        return batch

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            noise = np.concatenate([item.noise for item in batch])
            labels = np.concatenate([item.labels for item in batch])
            try:
                images = await loop.run_in_executor(self._executor, self.backend.run, noise, labels)
            except Exception as error:
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)
                continue
            self.stats.requests += len(batch)
            self.stats.batches += 1
            self.stats.images += len(labels)
            self.stats.largest_batch = max(self.stats.largest_batch, len(labels))
            start = 0
            for item in batch:
                end = start + len(item.labels)
                if not item.future.done():
                    item.future.set_result(images[start:end])
                start = end
