"""Sifting chunks: a worker process answers exactly as the calling thread does, and a worker
that dies or fails costs time only."""

from __future__ import annotations

import os
import signal
from email.message import EmailMessage

import pytest

from acchub_mailbot.core import bodyparts
from acchub_mailbot.core.limits import Limits
from acchub_mailbot.core.messages import header_summary
from acchub_mailbot.core.prefilter import sections_could_be_invitation
from acchub_mailbot.mail.sifting import INLINE, Chunk, Sifter, sift

LINK = "https://businesscentral.dynamics.com/tenant-1/?redirectedfromsignup=1"


def _planned(index: int) -> tuple[bodyparts.Plan, dict[str, bytes]]:
    """A one-part message as a planned fetch would hold it; every seventh one carries an
    invitation link, every eleventh one a product name in its subject."""
    message = EmailMessage()
    message["From"] = f"Person {index} <p{index}@example.org>"
    message["Subject"] = (
        "Dynamics 365 Business Central" if index % 11 == 0 else f"Minutes of meeting {index}"
    )
    message["Message-ID"] = f"<m{index}@example.org>"
    body = f"Hello,\nplease find the minutes of meeting {index}.\n"
    if index % 7 == 0:
        body += f"Open {LINK} to accept.\n"
    message.set_content(body)
    raw = message.as_bytes()
    header, _, text = raw.partition(b"\n\n")
    encoding = str(message["Content-Transfer-Encoding"]).encode()
    structure = (b"text", b"plain", (b"charset", b"utf-8"), None, None, encoding, len(text), 3)
    plan = bodyparts.plan(structure)
    assert not plan.whole
    return plan, {"HEADER": header + b"\n\n", "TEXT": text}


def _chunk(size: int, start: int = 1) -> Chunk:
    return {uid: _planned(uid) for uid in range(start, start + size)}


def test_sift_keeps_what_the_prefilter_keeps_and_summarises_the_rest() -> None:
    chunk = _chunk(80)
    result = sift(chunk, Limits())
    expected = {
        uid
        for uid, (plan, sections) in chunk.items()
        if sections_could_be_invitation(plan, sections)
    }
    assert result.kept == expected
    assert {uid for uid in chunk if uid % 7 == 0 or uid % 11 == 0} == expected
    assert set(result.summaries) == set(chunk) - expected
    uid = 2
    assert result.summaries[uid] == header_summary(chunk[uid][1]["HEADER"])
    assert result.summaries[uid][0] == "<m2@example.org>"


def test_a_worker_answers_as_the_calling_thread_does() -> None:
    sifter = Sifter(1, min_pooled=10)
    try:
        chunks = [_chunk(50, start) for start in (1, 51, 101)]
        pending = [sifter.start(chunk, Limits()) for chunk in chunks]  # all in flight at once
        assert len(sifter._started) == 1
        for chunk, waiting in zip(chunks, pending, strict=True):
            assert waiting.result() == INLINE.start(chunk, Limits()).result()
    finally:
        sifter.close()


def test_small_chunks_never_start_a_worker() -> None:
    sifter = Sifter(1, min_pooled=10)
    assert sifter.start(_chunk(9), Limits()).result().kept == {7}
    assert sifter._started == []


def test_a_dead_worker_costs_time_only() -> None:
    sifter = Sifter(1, min_pooled=10)
    try:
        chunk = _chunk(40)
        assert sifter.start(chunk, Limits()).result().kept == sift(chunk, Limits()).kept
        first = sifter._started[0]
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()
        # Sent to the dead worker or refused at once: either way the answer is the same.
        assert sifter.start(chunk, Limits()).result().kept == sift(chunk, Limits()).kept
        # The next big chunk starts a fresh worker.
        assert sifter.start(chunk, Limits()).result().kept == sift(chunk, Limits()).kept
        assert sifter._started and sifter._started[0] is not first
        assert sifter._started[0].alive
    finally:
        sifter.close()


def test_a_chunk_the_worker_fails_on_is_sifted_here() -> None:
    sifter = Sifter(1, min_pooled=1)
    try:
        chunk = _chunk(3)
        broken: Chunk = {**chunk, 99: (chunk[1][0], "not a dict of sections")}  # type: ignore[dict-item]
        with pytest.raises(AttributeError):
            sift(broken, Limits())  # the calling thread raises what the worker reported
        with pytest.raises(AttributeError):
            sifter.start(broken, Limits()).result()
        # The failure was logged and the worker replaced; good chunks still go through one.
        assert sifter.start(chunk, Limits()).result().kept == sift(chunk, Limits()).kept
    finally:
        sifter.close()


def test_close_leaves_no_process_behind() -> None:
    sifter = Sifter(2, min_pooled=1)
    for start in (1, 11, 21):
        sifter.start(_chunk(5, start), Limits()).result()
    workers = list(sifter._started)
    assert len(workers) == 2
    sifter.close()
    assert all(w.process.poll() is not None for w in workers)
    assert sifter._started == []
