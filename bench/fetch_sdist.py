"""Download a package's source archive from the index pip is configured to use.

Needed for LightFM 1.17, whose setup.py cannot run under pip's build backend (so `pip download`,
which prepares metadata, fails); the archive's sha256 from the index is checked.
"""

import hashlib
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path


def index_url() -> str:
    configured = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if configured:
        return configured.rstrip("/") + "/"
    from pip._internal.models.index import PyPI

    return PyPI.simple_url.rstrip("/") + "/"


def fetch(name: str, filename: str, dest: Path) -> Path:
    page_url = urllib.parse.urljoin(index_url(), f"{name}/")
    page = urllib.request.urlopen(page_url, timeout=60).read().decode()
    match = re.search(r'href="([^"]*/' + re.escape(filename) + r')#sha256=([0-9a-f]{64})"', page)
    if not match:
        raise SystemExit(f"{filename} not listed at {page_url}")
    url, sha256 = urllib.parse.urljoin(page_url, match.group(1)), match.group(2)
    data = urllib.request.urlopen(url, timeout=120).read()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise SystemExit(f"sha256 mismatch for {filename}")
    target = dest / filename
    target.write_bytes(data)
    return target


if __name__ == "__main__":
    print(fetch(sys.argv[1], sys.argv[2], Path(sys.argv[3])))
