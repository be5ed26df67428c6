"""VAE decode of one window while the next window denoises (the pipeline's `overlap_decode`).

A window's latents are final once its last sampling step is done, and the next window needs only
their last motion frames, not the pixels. So the decode can run beside the next window's
denoising: on a GPU on a second CUDA stream, on a CPU on a worker thread (torch releases the GIL in
its kernels). The frames are the same tensors the in-line decode gives (the same calls, in the same
order); only when they are computed changes.

Timing: `exposed_s` is the wall-clock time the caller spent on decoding (launching it, and waiting
for what was not finished when the last window's denoising ended), the part the video pays for;
`busy_s` is the decoder's own time, most of it hidden under denoising. `first_done_s` is when the
first window's frames were ready, on the caller's `perf_counter` clock.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import torch

from .models.bundle import decode_latents
from .profiling import is_cuda


class OverlappedDecoder:
    def __init__(self, vae, chunk: int, device: str | torch.device):
        self.vae, self.chunk, self.device = vae, chunk, torch.device(device)
        self.cuda = is_cuda(self.device)
        self.exposed_s = 0.0
        self._jobs: list = []
        if self.cuda:
            self._stream = torch.cuda.Stream(self.device)
        else:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vae-decode")

    def submit(self, latents: torch.Tensor) -> None:
        """Queue the decode of one window's latents (F, C, h, w); returns at once."""
        t0 = time.perf_counter()
        if self.cuda:
            main = torch.cuda.current_stream(self.device)
            ready = torch.cuda.Event(enable_timing=True)
            ready.record(main)
            self._stream.wait_event(ready)
            with torch.cuda.stream(self._stream):
                # the side stream now owns these latents until its work on them is done
                latents.record_stream(self._stream)
                frames = decode_latents(self.vae, latents, chunk=self.chunk)
                done = torch.cuda.Event(enable_timing=True)
                done.record(self._stream)
            self._jobs.append((frames, t0, ready, done))
        else:
            self._jobs.append(self._pool.submit(self._decode_on_worker, latents))
        self.exposed_s += time.perf_counter() - t0

    def _decode_on_worker(self, latents: torch.Tensor):
        with torch.no_grad():       # grad mode is per thread
            t0 = time.perf_counter()
            frames = decode_latents(self.vae, latents, chunk=self.chunk)
            return frames, t0, time.perf_counter()

    def finish(self) -> tuple[list[torch.Tensor], float, float]:
        """Wait for every queued decode: (frames per window, first_done_s, busy_s)."""
        t0 = time.perf_counter()
        frames, busy, first_done = [], 0.0, float("nan")
        if self.cuda:
            self._stream.synchronize()
            main = torch.cuda.current_stream(self.device)
            for i, (f, submitted, ready, done) in enumerate(self._jobs):
                f.record_stream(main)      # made on the side stream, used and freed on the main one
                frames.append(f)
                busy += ready.elapsed_time(done) / 1e3
                if i == 0:
                    first_done = submitted + ready.elapsed_time(done) / 1e3
        else:
            for i, job in enumerate(self._jobs):
                f, start, end = job.result()
                frames.append(f)
                busy += end - start
                if i == 0:
                    first_done = end
            self._pool.shutdown(wait=True)
        self.exposed_s += time.perf_counter() - t0
        return frames, first_done, busy
