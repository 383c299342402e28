"""Where an API worker spends its time under the transfer load: a py-spy profile, summarised.

    uv run --with py-spy python bench/profile_worker.py [--seconds 15] [--clients 32] [--top 10]

Seeds a database of its own (like ``run.py --quick``), starts the production server with
``--workers`` processes, drives transfer create + accept pairs between random users, and samples
one worker with py-spy meanwhile (the whole stack, native frames left out). Prints the functions
with the largest inclusive share of the samples (on the stack at all), the largest self share,
and the inclusive share of each library or layer. The raw stacks are kept (``--raw PATH``) for a
flame graph.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cpu
import scenarios
from adapters.sql.migrate import upgrade
from loadgen import run_in_process
from run import admin, database, prepare, start_service, stop

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _where(file: str) -> str:
    """The library, standard module or layer of ours a frame's file belongs to (py-spy names
    files relative to their ``sys.path`` entry)."""
    first = file.split("/", 1)[0]
    return first.removesuffix(".py") or "?"


#: The event loop's own frames: every stack under them starts with these, so they are left out.
LOOP = "Handle._run"


def summarise(raw: str, top: int) -> dict[str, list[tuple[str, float]]]:
    """Collapsed stacks (``frame;frame;... count``) -> inclusive, self and per-library shares of
    all samples. Frames up to the event loop's callback are cut off; samples outside any
    callback count as ``(event loop)``."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    places: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [f.strip() for f in stack.split(";")]
        cut = next((i for i, f in enumerate(frames) if f.startswith(LOOP + " ")), None)
        if cut is None:
            own["(event loop)"] += count
            continue
        names = []
        for frame in frames[cut + 1 :] or [frames[cut]]:
            match = _FRAME.match(frame)
            function, file = (match["function"], match["file"]) if match else (frame, "")
            names.append((f"{function} ({file})", _where(file)))
        for name in {n for n, _ in names}:
            inclusive[name] += count
        for place in {p for _, p in names}:
            places[place] += count
        own[names[-1][0]] += count
    share = lambda c: [(k, v / total) for k, v in c.most_common(top)]  # noqa: E731
    return {"inclusive": share(inclusive), "self": share(own), "libraries": share(places)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--raw", type=Path)
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    name = f"wallet_bench_{uuid.uuid4().hex[:8]}"
    url = database(name)
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    work = Path(tempfile.mkdtemp(prefix="wallet-profile-"))
    try:
        upgrade(url)
        args.rows = 0
        prepare(args, url, work)
        service = start_service(url, args.port, args.workers)
        try:
            common: dict[str, Any] = {"host": "127.0.0.1", "port": args.port}
            common["connections"] = args.clients
            load = threading.Thread(
                target=run_in_process,
                args=(scenarios.transfers, {"data_file": str(work / "bench.json")}),
                kwargs={"name": "profile", "seconds": args.seconds + 3, **common},
            )
            load.start()
            time.sleep(2)  # connections open, statements prepared
            worker = cpu.descendants(service.pid)[1]
            raw = work / "stacks.txt"
            record = [spy, "record", "--pid", str(worker), "--duration", str(args.seconds)]
            record += ["--rate", "200", "--format", "raw", "--output", str(raw), "--nonblocking"]
            subprocess.run(
                record,
                check=True,
                capture_output=True,
            )
            load.join()
        finally:
            stop(service)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    text = raw.read_text()
    if args.raw:
        args.raw.write_text(text)
    samples = sum(int(line.rpartition(" ")[2]) for line in text.splitlines() if line.strip())
    print(f"{samples} samples of one worker over {args.seconds}s")
    for part, rows in summarise(text, args.top).items():
        print(f"\n{part} (share of samples):")
        for label, value in rows:
            print(f"  {value:>6.1%}  {label}")


if __name__ == "__main__":
    main()
