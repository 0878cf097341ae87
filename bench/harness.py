"""What every bench/ script shares: the ``--threads`` flag, and one fit per forked child
with an address-space cap and a timeout, timed after an untimed warm-up.

Import this module before numpy (``--threads`` must reach the thread pools' environment
variables before they load); it imports nothing heavy itself.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEMORY_CAP = 8 << 30
TIMEOUT_S = 600.0

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if "--threads" in sys.argv:  # before numpy / torch load their thread pools
    _threads = sys.argv[sys.argv.index("--threads") + 1]
    for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_variable] = _threads


@dataclass
class Outcome:
    """One fit's result (``status == "ok"``) or why there is none."""

    status: str
    value: object = None
    seconds: float | None = None
    cpu_seconds: float | None = None
    memory_mb: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def run_in_child(work: Callable[[], object], *, warm_up: Callable[[], object] | None = None,
                 memory_cap: int = MEMORY_CAP, timeout_s: float = TIMEOUT_S) -> Outcome:
    """Run ``warm_up()`` (imports, first-call set-up; not timed) then ``work()`` in a forked
    child and return what it produced with its wall and CPU seconds and peak extra memory.

    The parent must not have started torch's thread pool (a forked child would hang), so
    score results in the parent only after every child has run.
    """
    context = mp.get_context("fork")
    answers = context.Queue()
    process = context.Process(target=_child, args=(work, warm_up, memory_cap, answers))
    process.start()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:  # read before join: a big result blocks the child
        try:
            answer = answers.get(timeout=1)
        except queue.Empty:
            if not process.is_alive() and answers.empty():
                process.join()
                return Outcome("failed: crashed (out of memory?)")
            continue
        process.join()
        return answer
    process.kill()
    process.join()
    return Outcome(f"did not finish in {timeout_s / 60:.0f} min")


def _child(work: Callable[[], object], warm_up: Callable[[], object] | None, memory_cap: int,
           answers: mp.Queue) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_cap, memory_cap))
    try:
        _cap_torch_threads()
        if warm_up is not None:
            warm_up()
        before = _status_mb("VmRSS:")
        with contextlib.suppress(OSError):  # reset the peak (VmHWM) to the current size
            Path("/proc/self/clear_refs").write_text("5")
        started, cpu = time.perf_counter(), time.process_time()
        value = work()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        answers.put(Outcome("ok", value, seconds, cpu, max(_status_mb("VmHWM:") - before, 0.0)))
    except MemoryError:
        answers.put(Outcome(f"failed: out of memory (cap {memory_cap >> 30} GB)"))
    except Exception as error:  # a peer's failure is a table entry, not a crash
        answers.put(Outcome(f"failed: {type(error).__name__}: {str(error)[:80]}"))


def _cap_torch_threads() -> None:
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return float(line.split()[1]) / 1024
    return 0.0
