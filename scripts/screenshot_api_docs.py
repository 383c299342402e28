"""Screenshot Swagger UI and ReDoc in headless Chromium, the way a person offline would see them.

    uv run python scripts/screenshot_api_docs.py [--out DIR] [--chromium PATH]

Starts ``wallet serve`` on an embedded database in a temporary folder, opens
``/api/schema/swagger`` and ``/api/schema/redoc`` in a fresh Chromium profile with every
background service off, and writes for each page a PNG, the DOM after rendering and Chromium's
network log. It prints what the rendered pages hold (operations listed) and every URL the
browser asked for, and exits 1 when a page rendered empty or anything left 127.0.0.1.

Needs Chromium (Debian: ``apt-get install chromium``); CI has none, so this is not a test. Look
at the PNGs before saying the pages work: the numbers only say something rendered.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

PAGES = {"swagger": "/api/schema/swagger", "redoc": "/api/schema/redoc"}
#: How a rendered page marks one operation (by its operationId).
OPERATION_MARKERS = {
    "swagger": re.compile(r'id="operations-(?!tag-)[^-"]+-([^"]+)"'),
    "redoc": re.compile(r'id="operation/([^"]+)"'),
}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-features=AutofillServerCommunication,OptimizationHints,MediaRouter",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--window-size=1400,2000",
    "--virtual-time-budget=15000",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    wallet = Path(sys.executable).with_name("wallet")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'wallet.db'}",
        "LOG_LEVEL": "warning",
    }
    env.pop("REDIS_URL", None)
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(
        [str(wallet), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    for _ in range(300):
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=1):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the server did not start:\n{(workdir / 'server.log').read_text()[-3000:]}")


def chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def requests_made(net_log: Path) -> list[tuple[str, str]]:
    """(url, initiator) of every request job in Chromium's network log. The page's own requests
    have the page's origin as initiator; the navigation and Chromium's own background calls
    (updates, accounts, autofill) have none."""
    text = net_log.read_text()
    # Chromium may leave the events array open when it exits.
    if not text.rstrip().endswith("}"):
        text = text.rstrip().rstrip(",") + "]}"
    log = json.loads(text)
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        (event["params"]["url"], str(event["params"].get("initiator", "")))
        for event in log["events"]
        if event["type"] == start_job and "url" in event.get("params", {})
    ]


def operation_ids(base: str) -> set[str]:
    with urllib.request.urlopen(f"{base}/api/schema/openapi.json", timeout=10) as response:
        document = json.load(response)
    return {
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


def shoot(name: str, url: str, out: Path, binary: str, expected: set[str]) -> bool:
    png, dom, net_log = out / f"{name}.png", out / f"{name}.html", out / f"{name}-netlog.json"
    with tempfile.TemporaryDirectory() as profile:
        chromium(binary, Path(profile), f"--screenshot={png}", f"--log-net-log={net_log}", url)
    with tempfile.TemporaryDirectory() as profile:
        rendered = chromium(binary, Path(profile), "--dump-dom", url).stdout
    dom.write_text(rendered)
    operations = set(OPERATION_MARKERS[name].findall(rendered))
    missing = sorted(expected - operations)
    made = requests_made(net_log)
    origin = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
    page_requests = sorted({u for u, initiator in made if u == url or initiator == origin})
    elsewhere = [u for u in page_requests if urlsplit(u).hostname != "127.0.0.1"]
    browser_own = sorted({urlsplit(u).hostname or u for u, _ in made} - {"127.0.0.1"})
    print(f"{name}: {png} ({png.stat().st_size if png.exists() else 0} bytes)")
    print(f"  operations rendered: {len(operations)} of {len(expected)} in the document")
    print(f"    {', '.join(sorted(operations))}")
    if missing:
        print(f"  missing: {missing}")
    print(f"  the page's requests: {len(page_requests)}")
    for requested in page_requests:
        print(f"    {requested}")
    print(f"  the page's requests to another host: {len(elsewhere)} {elsewhere or ''}")
    print(f"  Chromium's own background requests (not the page's): {browser_own}")
    return png.exists() and bool(operations) and not missing and not elsewhere


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/api-docs"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    if not shutil.which(args.chromium):
        print("Chromium not found: apt-get install chromium (or pass --chromium)")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out.resolve()
    with tempfile.TemporaryDirectory() as workdir:
        port = free_port()
        server = start_server(Path(workdir), port)
        base = f"http://127.0.0.1:{port}"
        try:
            expected = operation_ids(base)
            results = [
                shoot(name, f"{base}{path}", out, args.chromium, expected)
                for name, path in PAGES.items()
            ]
        finally:
            server.terminate()
            server.wait(timeout=30)
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
