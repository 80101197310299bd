"""External-store benchmarks (issue 4): push and pull of a 1 GiB external file through S3.

The suite starts its own moto S3 server on 127.0.0.1 (``python -m moto.server``, as the tests do)
and creates one bucket; the projects' registry is an ``oci:`` layout on local disk, so the
external transfer is all that takes time.  Every round generates a fresh 1 GiB file of random
bytes (staged with ``mops add``, untimed), then, the tools taking turns going first:

1. ``push``: ``mops push`` (the file goes to ``s3://BUCKET/mops`` by policy: it is above
   ``storage.threshold``) vs a plain s3fs ``put_file`` of the same file (default settings: 50 MiB
   parts, 10 at a time) in its own Python process.  ``curl -T`` (one PUT, no multipart) for
   information.  Targets: ≥ 0.9× s3fs' throughput, mops peak RSS ≤ 150 MB.
2. ``pull``: ``mops pull`` into a fresh project (downloaded, hashed, fsynced, renamed into place
   only when the digest matches) vs a plain s3fs ``get_file`` of the same object (checks
   nothing) in its own Python process.  ``curl -o`` (one GET) for information.  Targets: ≥ 0.9×
   s3fs' throughput, mops peak RSS ≤ 150 MB.

Each timed command runs under GNU time (``/usr/bin/time``) for its own peak RSS, after
``sync`` so that no tool pays for another's dirty pages; the CPU time the moto server spends
during each command is read from ``/proc/PID/stat`` and kept in the results.  moto is reset
after every round (it keeps objects in memory and its temp directory).  The 1 GiB rounds are
``--repeat`` (at least 2) after one warm-up round; figures are medians.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

try:
    from . import common as c
except ImportError:  # run as a plain script directory
    import common as c  # type: ignore[no-redef]

SUITE = "external"
DESCRIPTION = "push/pull of a 1 GiB external file through moto's S3 vs plain s3fs put_file/get_file (issue 4)"
CASES = {"push": "mops push of 1 GiB to S3 vs s3fs put_file", "pull": "mops pull of 1 GiB from S3 vs s3fs get_file"}

BIG = 1 << 30
RSS_LIMIT = 150 * 1000 * 1000  # "150 MB"
BUCKET = "bench"
TICK = os.sysconf("SC_CLK_TCK")

# The peers: what a user who does not use mops writes (s3fs with its defaults), each in its own
# process so that its peak RSS is comparable with mops'.
S3FS = r"""
import sys
import s3fs
endpoint, op, local, remote = sys.argv[1:5]
fs = s3fs.S3FileSystem(endpoint_url=endpoint)
if op == "put":
    fs.put_file(local, remote)
else:
    fs.get_file(remote, local)
"""


Sample = c.Sample


def _moto_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def timed(argv: list[str], server_pid: int, cwd=None, env=None) -> Sample:
    """common.timed, plus the CPU moto spent meanwhile."""
    return c.timed(argv, cwd, env, server_cpu=lambda: _moto_cpu(server_pid))




def _mb(n: int) -> str:
    return f"{n / 1e6:.0f} MB"  # the unit of the target (10^6 bytes)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    env = dict(os.environ)
    for k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        env.pop(k, None)
    env.update({"LC_ALL": "C", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"})
    return env


class Moto:
    """``python -m moto.server`` on a free port of 127.0.0.1, its temp files in the scratch directory."""

    def __init__(self, scratch: Path, env: dict):
        import importlib.util

        for mod in ("moto", "flask", "s3fs"):
            if importlib.util.find_spec(mod) is None:
                raise RuntimeError(f"the external suite needs {mod} (pip install 'moto[s3]' flask flask-cors s3fs)")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        tmp = scratch / "moto-tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        self.log = scratch / "moto.log"
        self._client = None
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=scratch,
                                         env={**env, "TMPDIR": str(tmp)})
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto exited {self.proc.returncode}: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                self._request("GET", "/moto-api/")
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto did not answer at {self.url} within 60 s") from None
                time.sleep(0.1)
        self.reset()

    def _request(self, method: str, path: str) -> None:
        req = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(req, timeout=60) as resp:
            resp.read()

    def reset(self) -> None:
        """Forget every object (moto keeps them in memory and temp files) and recreate the bucket."""
        self._request("POST", "/moto-api/reset")
        self._request("PUT", f"/{BUCKET}")  # moto accepts unsigned requests unless told otherwise

    @property
    def client(self):
        """A boto3 client (anonymous requests are refused object access, so HEADs and the curl
        URLs are signed)."""
        if self._client is None:
            import boto3

            self._client = boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                                        aws_access_key_id="testing", aws_secret_access_key="testing")
        return self._client

    def size_of(self, key: str) -> int | None:
        try:
            return int(self.client.head_object(Bucket=BUCKET, Key=key)["ContentLength"])
        except Exception as e:  # botocore's ClientError for 404
            if "404" in str(e) or "Not Found" in str(e):
                return None
            raise

    def signed_url(self, method: str, key: str) -> str:
        op = {"GET": "get_object", "PUT": "put_object"}[method]
        return self.client.generate_presigned_url(op, Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=3600)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Bench:
    def __init__(self, ctx: c.Context):
        self.ctx = ctx
        self.env = _env()
        self.moto = Moto(ctx.scratch, self.env)
        self.mops = c.mops_argv()
        self.layout = ctx.scratch / "layout"

    def project(self, root: Path) -> None:
        """A project whose registry is an oci: layout and whose store is the moto bucket (default
        policy: files of 50 MiB and more go to the store)."""
        c.sh([*self.mops, "init", str(root), "--registry", f"oci:{self.layout}"], env=self.env)
        (root / ".gitignore").unlink(missing_ok=True)
        c.sh([*self.mops, "config", "set", "storage.url", f"s3://{BUCKET}/mops"], cwd=root, env=self.env)
        c.sh([*self.mops, "config", "set", "storage.options.endpoint_url", self.moto.url], cwd=root, env=self.env)

    def timed(self, argv: list[str], cwd=None) -> Sample:
        return timed(argv, self.moto.proc.pid, cwd=cwd, env=self.env)

    def s3fs(self, op: str, local: Path, key: str) -> Sample:
        return self.timed([sys.executable, "-c", S3FS, self.moto.url, op, str(local), f"{BUCKET}/{key}"])

    def curl_put(self, local: Path, key: str) -> Sample:
        return self.timed(["curl", "-sS", "--fail", "-o", "/dev/null", "-T", str(local), self.moto.signed_url("PUT", key)])

    def curl_get(self, local: Path, key: str) -> Sample:
        return self.timed(["curl", "-sS", "--fail", "-o", str(local), self.moto.signed_url("GET", key)])


def object_key(digest: str) -> str:
    h = digest.split(":", 1)[1]
    return f"mops/sha256/{h[:2]}/{h[2:4]}/{h}"


def _check_size(what: str, got: int | None, size: int) -> None:
    if got != size:
        raise RuntimeError(f"{what}: {got} bytes where {size} were expected")


PUSH_TOOLS = ["mops push", "s3fs put_file", "curl -T"]
PULL_TOOLS = ["mops pull", "s3fs get_file", "curl -o"]


def rounds(b: Bench, push: bool, pull: bool) -> dict[str, list[Sample]]:
    """One warm-up round plus ``--repeat`` (≥ 2) rounds of everything selected; samples per tool."""
    ctx = b.ctx
    size = (128 << 20) if ctx.quick else BIG
    samples: dict[str, list[Sample]] = {t: [] for t in (PUSH_TOOLS if push else []) + (PULL_TOOLS if pull else [])}
    n = 1 + max(2, ctx.repeat)
    for i in range(n):
        b.moto.reset()
        shutil.rmtree(b.layout, ignore_errors=True)
        src = ctx.scratch / f"src-{i}"
        b.project(src)
        f = src / "model.bin"
        digest = c.fresh_file(f, size)
        c.sh([*b.mops, "add", f.name], cwd=src, env=b.env)
        key = object_key(digest)
        got: dict[str, Sample] = {}
        # push: mops' upload lands at its content address; the peers' at keys of their own
        order = PUSH_TOOLS[i % 3:] + PUSH_TOOLS[: i % 3] if push else ["mops push"]
        for tool in order:
            if tool == "mops push":
                s = b.timed([*b.mops, "push"], cwd=src)
                _check_size("mops push", b.moto.size_of(key), size)
            elif tool == "s3fs put_file":
                s = b.s3fs("put", f, f"peer/{i}.bin")
                _check_size("s3fs put_file", b.moto.size_of(f"peer/{i}.bin"), size)
            else:
                s = b.curl_put(f, f"curl/{i}.bin")
                _check_size("curl -T", b.moto.size_of(f"curl/{i}.bin"), size)
            got[tool] = s
        if pull:
            # every puller reads the object mops pushed (the same bytes at the same key)
            order = PULL_TOOLS[i % 3:] + PULL_TOOLS[: i % 3]
            for tool in order:
                dst = ctx.scratch / f"dst-{i}"
                if tool == "mops pull":
                    b.project(dst)
                    got[tool] = b.timed([*b.mops, "pull"], cwd=dst)
                else:
                    dst.mkdir()
                    got[tool] = (b.s3fs("get", dst / "model.bin", key) if tool == "s3fs get_file"
                                 else b.curl_get(dst / "model.bin", key))
                _check_size(tool, (dst / "model.bin").stat().st_size, size)
                shutil.rmtree(dst)
        shutil.rmtree(src)
        ctx.log(f"round {i}{' (warm-up)' if i == 0 else ''}: "
                + ", ".join(f"{t} {s.wall:.2f}s/{(s.rss or 0) / 1e6:.0f}MB (moto cpu {s.server_cpu:.1f}s)"
                            for t, s in got.items()) + f"; load {_load()}")
        if i:
            for t in samples:
                samples[t].append(got[t])
    b.moto.reset()
    return samples


def results(samples: dict[str, list[Sample]], size: int, what: str, tools: list[str], loads: list[str]) -> list[c.Result]:
    mops, peer, ceiling = tools
    w, rss, detail = c.summarise({t: samples[t] for t in tools}, loads)
    r = w[peer] / w[mops]  # throughput ratio
    rc = w[ceiling] / w[mops]
    noun = f"{what} of a new {c.fmt_bytes(size)} external file"
    return [
        c.Result(SUITE, noun, f"{c.fmt_s(w[mops])}, {c.mib_s(size, w[mops])}",
                 f"{c.fmt_s(w[peer])}, {c.mib_s(size, w[peer])}", peer, r, "≥ 0.9× s3fs' throughput", r >= 0.9, detail),
        c.Result(SUITE, f"{noun}, vs {ceiling} (one request)", c.mib_s(size, w[mops]),
                 f"{c.fmt_s(w[ceiling])}, {c.mib_s(size, w[ceiling])}", ceiling, rc, "info", True, {}),
        c.Result(SUITE, f"peak RSS of that {what}", _mb(rss[mops]),
                 f"{_mb(rss[peer])} s3fs, {_mb(rss[ceiling])} curl", "max of runs", None,
                 "≤ 150 MB", 0 < rss[mops] <= RSS_LIMIT, {"peak_rss": rss}),
    ]


def run(ctx: c.Context, only: list[str] | None = None) -> list[c.Result]:
    if shutil.which("curl") is None:
        raise RuntimeError("the external suite needs curl")
    push = only is None or "push" in only
    pull = only is None or "pull" in only
    size = (128 << 20) if ctx.quick else BIG
    b = Bench(ctx)
    try:
        loads = [_load()]
        ctx.log(f"{SUITE}: moto S3 on {b.moto.url}; load {loads[0]}")
        t = time.perf_counter()
        samples = rounds(b, push, pull)
        loads.append(_load())
        ctx.log(f"{SUITE}: done in {time.perf_counter() - t:.0f}s")
    finally:
        b.moto.stop()
    out: list[c.Result] = []
    if push:
        out += results(samples, size, "push", PUSH_TOOLS, loads)
    if pull:
        out += results(samples, size, "pull", PULL_TOOLS, loads)
    return out
