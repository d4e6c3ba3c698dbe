"""The prefilter over a whole fetched chunk, on another core when a big fetch makes it pay.

A first scan spends about a third of its CPU deciding which messages the prefilter rules out.
That work is pure (:mod:`acchub_mailbot.core.prefilter` over plain bytes), so a worker process can
do it for one chunk while the polling thread fetches the next chunk and records the previous
one. Small chunks, such as the few new messages of an ordinary poll, are sifted in the calling
thread: shipping them to a process would cost more than the work.

The worker is ``python -m acchub_mailbot.mail.sifting``, fed length-prefixed pickles over its stdin
and answering on its stdout. It imports the prefilter and nothing else (multiprocessing's
``spawn`` would re-run the caller's main script, the whole application, in every worker, and
add a resource-tracker process). A worker that dies or fails only costs time: the chunk is
sifted in the calling thread instead, and the next big chunk starts a fresh worker.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import IO, Any

from acchub_mailbot import paths
from acchub_mailbot.core.bodyparts import Plan
from acchub_mailbot.core.limits import Limits
from acchub_mailbot.core.messages import header_summary
from acchub_mailbot.core.prefilter import sections_could_be_invitation

# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.sifting")

#: UID -> (plan, fetched sections) of the messages of one chunk fetched by sections.
Chunk = Mapping[int, tuple[Plan, dict[str, bytes]]]
#: Message-ID, subject and sender (see :func:`acchub_mailbot.core.messages.header_summary`).
Summary = tuple[str | None, str | None, str | None]

#: Chunks with fewer planned messages than this are sifted in the calling thread.
MIN_POOLED = 200
_FRAME = struct.Struct(">Q")


@dataclass(frozen=True)
class Sifted:
    """What the prefilter made of a chunk: the UIDs that could be invitations (every other one
    provably is not), and the header summary each of the others is recorded with."""

    kept: frozenset[int]
    summaries: dict[int, Summary]


def sift(chunk: Chunk, limits: Limits) -> Sifted:
    kept = frozenset(
        uid
        for uid, (plan, sections) in chunk.items()
        if sections_could_be_invitation(plan, sections, limits)
    )
    summaries = {
        uid: header_summary(sections.get("HEADER", b""))
        for uid, (_, sections) in chunk.items()
        if uid not in kept
    }
    return Sifted(kept, summaries)


class WorkerError(RuntimeError):
    """The worker process failed a chunk or is gone."""


# -- the wire: frames of one pickle each ---------------------------------------------------------


def _write(stream: IO[bytes], value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read(stream: IO[bytes]) -> Any:
    """The next frame's value; ``EOFError`` when the other side has closed."""
    header = stream.read(_FRAME.size)
    if len(header) < _FRAME.size:
        raise EOFError
    (size,) = _FRAME.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)  # noqa: S301 - frames from our own child process only


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """The worker's loop: ``(id, chunk, limits)`` in, ``(id, kept, summaries)`` or
    ``(id, None, error)`` out, until the parent closes the pipe."""
    while True:
        try:
            request_id, chunk, limits = _read(requests)
        except EOFError:
            return
        try:
            result = sift(chunk, limits)
            answer: tuple[object, ...] = (request_id, result.kept, result.summaries)
        except Exception as exc:  # reported to the parent, which sifts the chunk itself
            answer = (request_id, None, f"{type(exc).__name__}: {exc}")
        _write(answers, answer)


class _Worker:
    """One worker process and the thread that reads its answers."""

    def __init__(self) -> None:
        package_root = str(paths.PACKAGE_PARENT)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (package_root, env.get("PYTHONPATH"))))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "acchub_mailbot.mail.sifting"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._futures: dict[int, Future[Sifted]] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._gone = False
        self._reader = threading.Thread(
            target=self._read_answers, name="prefilter-worker-reader", daemon=True
        )
        self._reader.start()
        log.debug("started prefilter worker process %d", self.process.pid)

    @property
    def alive(self) -> bool:
        return not self._gone and self.process.poll() is None

    def submit(self, chunk: Chunk, limits: Limits) -> Future[Sifted]:
        future: Future[Sifted] = Future()
        assert self.process.stdin is not None
        with self._lock:
            if self._gone:
                raise WorkerError("the prefilter worker has exited")
            request_id = next(self._ids)
            self._futures[request_id] = future
            try:
                _write(self.process.stdin, (request_id, dict(chunk), limits))
            except (OSError, ValueError) as exc:
                self._futures.pop(request_id, None)
                raise WorkerError(f"the prefilter worker is gone ({exc})") from exc
        return future

    def _read_answers(self) -> None:
        assert self.process.stdout is not None
        try:
            while True:
                request_id, kept, detail = _read(self.process.stdout)
                with self._lock:
                    future = self._futures.pop(request_id, None)
                if future is None:
                    continue
                if kept is None:
                    future.set_exception(WorkerError(str(detail)))
                else:
                    future.set_result(Sifted(kept, detail))
        except Exception as exc:  # EOF or a broken frame: the worker is unusable
            reason: BaseException = exc
        with self._lock:
            self._gone = True
            waiting, self._futures = list(self._futures.values()), {}
        for future in waiting:
            future.set_exception(WorkerError(f"the prefilter worker exited ({reason!r})"))

    def close(self, timeout: float = 10.0) -> None:
        """Let the worker finish and exit (closing its input ends it), killing it if it hangs."""
        with self._lock:
            self._gone = True
            if self.process.stdin is not None:
                with contextlib.suppress(OSError):
                    self.process.stdin.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()


class Pending:
    """A chunk being sifted; :meth:`result` waits for it (or sifts it here if the worker
    failed)."""

    def __init__(
        self, sifter: Sifter, chunk: Chunk, limits: Limits, future: Future[Sifted] | None
    ) -> None:
        self._sifter = sifter
        self._chunk = chunk
        self._limits = limits
        self._future = future

    def result(self) -> Sifted:
        if self._future is not None:
            try:
                return self._future.result()
            except Exception as exc:  # a dead worker or one that failed: do the work here
                self._sifter.discard_workers(exc)
        return sift(self._chunk, self._limits)


class Sifter:
    """Sifts big chunks in ``workers`` worker processes (started on first need, taken in turn),
    or in the calling thread when ``workers`` is 0 or a chunk is small. Safe to share between
    threads."""

    def __init__(self, workers: int = 0, *, min_pooled: int = MIN_POOLED) -> None:
        self.workers = workers
        self.min_pooled = min_pooled
        self._started: list[_Worker] = []
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def start(self, chunk: Chunk, limits: Limits) -> Pending:
        """Begin sifting ``chunk``; big chunks go to a worker and this returns at once."""
        if self.workers <= 0 or len(chunk) < self.min_pooled:
            return Pending(self, chunk, limits, None)
        try:
            future: Future[Sifted] | None = self._worker().submit(chunk, limits)
        except Exception as exc:  # a worker that cannot start or has died: sift here
            self.discard_workers(exc)
            future = None
        return Pending(self, chunk, limits, future)

    def _worker(self) -> _Worker:
        with self._lock:
            for dead in [w for w in self._started if not w.alive]:
                dead.close(timeout=2.0)
            self._started = [w for w in self._started if w.alive]
            if len(self._started) < self.workers:
                self._started.append(_Worker())
                return self._started[-1]
            return self._started[next(self._turn) % len(self._started)]

    def discard_workers(self, error: BaseException) -> None:
        """Stop workers after a failure; the next big chunk starts new ones."""
        with self._lock:
            workers, self._started = self._started, []
        if workers:
            log.warning(
                "prefilter worker failed (%s); this chunk is sifted in the polling thread", error
            )
        for worker in workers:
            worker.close(timeout=2.0)

    def close(self) -> None:
        """Stop the worker processes, waiting for them so that none is left behind."""
        with self._lock:
            workers, self._started = self._started, []
        for worker in workers:
            worker.close()


#: Sifts everything in the calling thread.
INLINE = Sifter(0)


if __name__ == "__main__":
    # Ctrl-C is the parent's to handle; the worker ends when the parent closes its input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from acchub_mailbot.mail.sifting import serve as _serve  # the importable module's own classes

    # Answers go to the original stdout; anything else printed lands on stderr instead.
    _answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _serve(sys.stdin.buffer, _answers)
