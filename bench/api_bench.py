#!/usr/bin/env python3
"""API benchmark: requests per second and p50/p99 latency of the Tradezone HTTP
API under gunicorn, against a bare Flask endpoint that inserts one row.

    .venv/bin/python bench/api_bench.py --quick    # ~5 s per scenario, under a minute
    .venv/bin/python bench/api_bench.py            # 30 s per scenario, several minutes
    .venv/bin/python bench/api_bench.py --servers sync:2,gthread:2x4 --duration 10
    .venv/bin/python bench/api_bench.py --servers sync:2 --duration 8 --repeat 3   # best of 3
    .venv/bin/python bench/api_bench.py --postgres # the same on a throwaway PostgreSQL

Scenarios, each measured at every server setting (``--servers``):

- ``submit``: ``POST /api/v1/documents`` by the exporter, a commercial invoice
  (the type's example without its placeholder org ids, ~1.8 kB of JSON): token
  check, content validation, the document, its version and parties, one
  ``document.issued`` ledger entry, a signed checkpoint and the receipt.
- ``read``: ``GET /api/v1/documents/<invoice>`` by the importer under the
  exporter's consent: selective disclosure of the covered fields, one
  ``document.accessed`` ledger entry, the access row, a signed checkpoint and
  the evidence (inclusion proofs).
- ``proof``: ``GET /api/v1/ledger/proofs/inclusion?index=I&tree_size=N``
  (public), a random ``I`` per request, ``N`` the log's size when the scenario
  starts.
- ``baseline``: ``POST /rows`` of ``bench/baseline_app.py``: bare Flask, the
  same request body, one SQLAlchemy Core INSERT in its own transaction through
  ``app.db.make_engine`` (same pragmas and ``BEGIN IMMEDIATE`` as the app's
  writers), 201 JSON. Same gunicorn setting, same load generator settings.
- ``bare_get`` (full runs, or ``--bare-get``): ``GET /healthz`` of the same
  bare app, no database: what any GET costs through gunicorn and Flask, the
  ceiling for the proof scenario.

Each row also gives the server's CPU per request (user + system time of the
gunicorn master and workers, from /proc, divided by the responses) and the
CPU share of server and client: on 2 cores, N ms of server CPU per request
caps the rate at 2000/N per second whatever the concurrency.

The app is served exactly as the platform serves it (``tradezone serve``,
sync workers, access log on) for ``sync:N`` settings; ``gthread:NxT`` settings
run gunicorn's command line with the same options but threaded workers.
The load generator is ``wrk`` (C, one thread) with Lua scripts written into the
temporary directory; without wrk a Python asyncio client stands in (it costs
the server much more CPU; the output says so). Client and server share the
machine's cores.

Every response must be 2xx: any other status, socket error or timeout fails
the run. At the end of each app server's run the ledger must have grown by
exactly the number of 2xx submissions and reads the server logged (GET
/api/v1/ledger/checkpoint before and after); the client's own 2xx count may
only fall short of that by requests still in flight when it stopped. Then
``tradezone ledger check`` must pass on the benchmark database, and one
inclusion proof fetched over HTTP is verified against the signed checkpoint.

The last line printed is one JSON object of the figures (best server setting
per scenario, and every run under ``runs``). Everything lives in a temporary
directory; every process started is stopped, also on errors, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import json
import os
import platform as pyplatform
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
for _path in (ROOT, BENCH_DIR):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import ledger  # noqa: E402

import baseline_app  # noqa: E402
import harness  # noqa: E402
from report import log_progress  # noqa: E402
from app.documents.types import DOCUMENT_TYPES  # noqa: E402
from tests.services.ports import free_port  # noqa: E402

perf = time.perf_counter

GOAL_SUBMIT_PER_S = 1_000
GOAL_PROOF_PER_S = 3_000
HOST = "127.0.0.1"
VENV_BIN = Path(sys.executable).parent
WRK_TIMEOUT_S = 10
SERVER_START_TIMEOUT_S = 60
SCENARIOS = ("submit", "read", "proof")
SCENARIO_TITLES = {
    "submit": "submit (POST /documents, notarized)",
    "read": "read under consent (+ access entry)",
    "proof": "inclusion proof (GET, public)",
    "baseline": "baseline: bare Flask, 1 INSERT",
    "bare_get": "bare Flask GET, no database",
}
EXTRA = ("baseline", "bare_get")
# Which access-log lines are ledger writes: a document submission, a document read.
_ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) ')
_SUBMIT_PATH = re.compile(r"/api/v1/documents/?(\?.*)?$")
_READ_PATH = re.compile(r"/api/v1/documents/[^/?]+(\?.*)?$")


class BenchFailure(RuntimeError):
    """The run produced a wrong answer; figures from it are not to be trusted."""


# -- settings ------------------------------------------------------------------

@dataclass(frozen=True)
class ServerSetting:
    worker_class: str       # "sync" or "gthread"
    workers: int
    threads: int = 1

    @property
    def label(self) -> str:
        if self.worker_class == "sync":
            return f"sync x{self.workers}"
        return f"gthread {self.workers}x{self.threads}"

    @property
    def concurrency(self) -> int:
        return self.workers * self.threads


def parse_servers(text: str) -> tuple[ServerSetting, ...]:
    settings = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        match = re.fullmatch(r"sync:(\d+)|gthread:(\d+)x(\d+)", item)
        if not match:
            raise ValueError(f"{item!r}: use sync:N or gthread:NxT (workers x threads)")
        if match.group(1):
            settings.append(ServerSetting("sync", int(match.group(1))))
        else:
            settings.append(ServerSetting("gthread", int(match.group(2)), int(match.group(3))))
    if not settings or any(s.workers < 1 or s.threads < 1 for s in settings):
        raise ValueError("need at least one server setting with workers, threads >= 1")
    return tuple(settings)


@dataclass(frozen=True)
class Settings:
    quick: bool
    duration: float
    warmup: float
    servers: tuple[ServerSetting, ...]
    connections: int | None     # None: 2 x workers x threads (at least 4)
    client: str                 # "auto", "wrk" or "python"
    database_url: str | None
    postgres: bool
    max_load: float
    load_wait: float
    seed: int
    tmpdir: str | None
    profile: str | None = None  # the scenario to profile
    bare_get: bool = True
    scenarios: tuple[str, ...] = SCENARIOS
    repeat: int = 1             # measured runs per scenario and setting; the best is kept

    def connections_for(self, server: ServerSetting) -> int:
        return self.connections or max(4, 2 * server.concurrency)


def parse_args(argv: Sequence[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="4 s per scenario after 1 s of warm-up, servers sync:2,sync:4 "
                             "(under a minute)")
    parser.add_argument("--duration", type=float,
                        help="measured seconds per scenario and setting (default 30; quick 4)")
    parser.add_argument("--warmup", type=float,
                        help="unmeasured seconds before each measurement (default 3; quick 1)")
    parser.add_argument("--servers",
                        help="comma-separated gunicorn settings: sync:N, gthread:NxT "
                             "(default sync:2,sync:4,gthread:2x4; quick sync:2,sync:4)")
    parser.add_argument("--connections", type=int,
                        help="concurrent client connections (default 2 x workers x threads, "
                             "at least 4)")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                        help="load generator (default: wrk if installed, else Python asyncio)")
    parser.add_argument("--database-url",
                        help="benchmark against this database instead of a temporary SQLite "
                             "file; it must be an empty database dedicated to the run (it is "
                             "migrated and filled, not cleaned); on PostgreSQL the baseline's "
                             "table goes there too")
    parser.add_argument("--postgres", action="store_true",
                        help="start a throwaway PostgreSQL (tests/services/postgres.py) and "
                             "benchmark on it (needs the Debian 'postgresql' package)")
    parser.add_argument("--max-load", type=float, default=1.0,
                        help="wait until the 1-minute load average is below this before "
                             "measuring (default 1.0)")
    parser.add_argument("--load-wait", type=float,
                        help="seconds to wait at most for --max-load (default 300; quick 0), "
                             "then measure anyway and say so")
    parser.add_argument("--seed", type=int, default=20261123, help="for the proofs' random indexes")
    parser.add_argument("--tmpdir", help="where the temporary directory goes")
    parser.add_argument("--profile", nargs="?", const="submit", choices=SCENARIOS,
                        help="after the measurements at the first server setting, run this "
                             "scenario's load (default submit) once more under py-spy (all "
                             "workers) and print where the server's CPU goes to stderr "
                             "(.venv/bin/pip install py-spy)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measured runs per scenario and setting, the best kept (the "
                             "machine's speed drifts by 15%% and more between runs; a slow run "
                             "says nothing about what the code can do; default 1)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="comma-separated subset of the app's scenarios to measure "
                             f"(default {','.join(SCENARIOS)}); the baseline always runs")
    parser.add_argument("--bare-get", action=argparse.BooleanOptionalAction,
                        help="also measure GET /healthz of the bare Flask app, the ceiling of "
                             "any read through gunicorn + Flask (default: on, off with --quick)")
    args = parser.parse_args(argv)
    scenarios = tuple(name.strip() for name in args.scenarios.split(",") if name.strip())
    if not scenarios or set(scenarios) - set(SCENARIOS):
        parser.error(f"--scenarios: choose among {', '.join(SCENARIOS)}")
    if args.database_url and args.postgres:
        parser.error("--database-url and --postgres exclude each other")
    try:
        servers = parse_servers(args.servers or ("sync:2,sync:4" if args.quick
                                                 else "sync:2,sync:4,gthread:2x4"))
    except ValueError as error:
        parser.error(f"--servers: {error}")
    duration = args.duration or (4.0 if args.quick else 30.0)
    warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 3.0)
    if duration < 1 or warmup < 0 or (args.connections is not None and args.connections < 1):
        parser.error("need --duration >= 1, --warmup >= 0, --connections >= 1")
    if args.repeat < 1:
        parser.error("need --repeat >= 1")
    return Settings(
        quick=args.quick, duration=duration, warmup=warmup, servers=servers,
        connections=args.connections, client=args.client, database_url=args.database_url,
        postgres=args.postgres, max_load=args.max_load,
        load_wait=args.load_wait if args.load_wait is not None else (0.0 if args.quick else 300.0),
        seed=args.seed, tmpdir=args.tmpdir, profile=args.profile, scenarios=scenarios,
        repeat=args.repeat,
        bare_get=args.bare_get if args.bare_get is not None else not args.quick)


# -- child processes -----------------------------------------------------------

def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in process group ``pgid`` (a gunicorn
    master and its workers), from /proc."""
    members = (harness.process_stat(pid) for pid in harness.live_pids())
    return sum(harness.stat_cpu_seconds(fields) for fields in members
               if fields is not None and int(fields[2]) == pgid)  # fields[2]: pgrp


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_command(argv: Sequence[str], env: dict[str, str], timeout: float,
                what: str) -> subprocess.CompletedProcess:
    """Run a short command to completion; kill it (by its pid) if we are interrupted."""
    process = subprocess.Popen(list(argv), env=env, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        _kill_group(process)
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL a child started with start_new_session (its group id is its pid)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


class Server:
    """One gunicorn master (and its workers) in its own process group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int,
                 workdir: Path) -> None:
        self.name = name
        self.argv = argv
        # gunicorn >= 25 opens a control socket at $XDG_RUNTIME_DIR/gunicorn.ctl, else
        # ~/.gunicorn/gunicorn.ctl, shared with every other gunicorn on the machine:
        # give each benchmark server its own directory instead.
        runtime_dir = workdir / f"{name}.run"
        runtime_dir.mkdir(mode=0o700, exist_ok=True)
        self.env = {**env, "XDG_RUNTIME_DIR": str(runtime_dir)}
        self.port = port
        self.access_log = workdir / f"{name}.access.log"
        self.error_log = workdir / f"{name}.error.log"
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        """The master's pid, which is also the group id of its workers."""
        assert self.process is not None
        return self.process.pid

    def start(self) -> "Server":
        with open(self.access_log, "ab") as out, open(self.error_log, "ab") as err:
            self.process = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=out,
                                            stderr=err, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchFailure(f"{self.name} exited with {self.process.returncode} while "
                                   f"starting:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        raise BenchFailure(f"{self.name} did not answer /healthz within "
                           f"{SERVER_START_TIMEOUT_S} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM (gunicorn's graceful stop: workers finish their request), then SIGKILL."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=35)
            except subprocess.TimeoutExpired:
                pass
        # Workers left behind (master killed or hung) are in the master's group.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if process.poll() is None:
            process.wait(timeout=10)

    def __enter__(self) -> "Server":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, lines: int = 25) -> str:
        text = self.error_log.read_text(errors="replace") if self.error_log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def access_lines(self) -> list[tuple[str, str, int]]:
        result = []
        for line in self.access_log.read_text(errors="replace").splitlines():
            match = _ACCESS_LINE.search(line)
            if match:
                result.append((match["method"], match["path"], int(match["status"])))
        return result


def server_env(base: dict[str, str], database_url: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not k.startswith("TZ_")}
    env.update({
        "TZ_DATABASE_URL": database_url,
        "TZ_LEDGER_KEY_FILE": str(workdir / "ledger-signing-key.pem"),
        "TZ_VAR_DIR": str(workdir / "var"),
        # One write per access-log line, so the lines of several workers never
        # interleave and none is left in a buffer: the accounting reads them.
        "PYTHONUNBUFFERED": "1",
    })
    return env


def gunicorn_options(setting: ServerSetting, port: int) -> list[str]:
    """The options ``app.serve`` gives gunicorn, with this setting's worker class."""
    options = ["--bind", f"{HOST}:{port}", "--workers", str(setting.workers),
               "--worker-class", setting.worker_class, "--access-logfile", "-",
               "--logger-class", "app.access_log.AccessLogger", "--timeout", "60"]
    if setting.worker_class == "gthread":
        options += ["--threads", str(setting.threads)]
    return options


def app_server(setting: ServerSetting, env: dict[str, str], workdir: Path) -> Server:
    port = free_port()
    if setting.worker_class == "sync":
        argv = [str(VENV_BIN / "tradezone"), "serve", "--host", HOST, "--port", str(port),
                "--workers", str(setting.workers)]
    else:
        argv = [str(VENV_BIN / "gunicorn"), *gunicorn_options(setting, port), "app:create_app()"]
    name = f"app-{setting.worker_class}-{setting.workers}x{setting.threads}"
    return Server(name, argv, env, port, workdir)


def baseline_server(setting: ServerSetting, env: dict[str, str], url: str,
                    workdir: Path) -> Server:
    port = free_port()
    argv = [str(VENV_BIN / "gunicorn"), *gunicorn_options(setting, port),
            "--pythonpath", f"{BENCH_DIR},{ROOT}", "baseline_app:app"]
    name = f"baseline-{setting.worker_class}-{setting.workers}x{setting.threads}"
    return Server(name, argv, {**env, baseline_app.URL_VARIABLE: url}, port, workdir)


# -- HTTP helpers (set-up and checks, not timed) -------------------------------

def http_json(method: str, url: str, token: str | None = None,
              body: bytes | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, {"error": error.read().decode(errors="replace")[:500]}


def ledger_size(server: Server) -> int:
    status, body = http_json("GET", server.base_url + "/api/v1/ledger/checkpoint")
    if status != 200:
        raise BenchFailure(f"GET /api/v1/ledger/checkpoint answered {status}: {body}")
    return int(body["size"])


def settled_ledger_size(server: Server) -> int:
    """The log's size once no request is still being handled (two equal reads)."""
    previous = ledger_size(server)
    for _ in range(100):
        time.sleep(0.3)
        size = ledger_size(server)
        if size == previous:
            return size
        previous = size
    raise BenchFailure("the ledger kept growing after the load stopped")


def b64(text: str) -> bytes:
    return base64.b64decode(text)


# -- load generation -------------------------------------------------------------

@dataclass(frozen=True)
class Load:
    """What each request of a scenario is."""

    name: str
    method: str
    path: str                   # for random proofs: the path without the query
    token: str | None = None
    body_file: Path | None = None
    proof_tree_size: int | None = None


@dataclass
class LoadResult:
    requests: int               # completed responses
    ok: int                     # of which 2xx
    bad: int                    # of which anything else
    bad_status: int
    bad_body: str
    socket_errors: dict[str, int]
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    server_cpu_s: float = 0.0   # CPU of the gunicorn master + workers during the run
    client_cpu_s: float = 0.0   # CPU of the load generator

    @property
    def per_s(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def server_cpu_ms(self) -> float:
        """Server CPU per completed request (ms)."""
        return 1000 * self.server_cpu_s / self.requests if self.requests else 0.0

    @property
    def client_cpu_ms(self) -> float:
        return 1000 * self.client_cpu_s / self.requests if self.requests else 0.0


_LUA = r"""-- written by bench/api_bench.py for one scenario
wrk.method = "%(method)s"
%(headers)s
%(body)s
ok_count, bad_count, bad_status, bad_body = 0, 0, 0, ""
local threads, thread_count = {}, 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(%(seed)d + thread_id * 7919)
end

%(request)s

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok_count = ok_count + 1
  else
    bad_count = bad_count + 1
    if bad_status == 0 then
      bad_status = status
      bad_body = string.sub(body or "", 1, 400)
    end
  end
end

function done(summary, latency, requests)
  local ok, bad, status, body = 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("ok_count")
    bad = bad + thread:get("bad_count")
    if status == 0 and thread:get("bad_status") ~= 0 then
      status = thread:get("bad_status")
      body = thread:get("bad_body")
    end
  end
  local e = summary.errors
  local out = io.open("%(result)s", "w")
  out:write(string.format(
    '{"requests": %%.0f, "duration_us": %%.0f, "ok": %%.0f, "bad": %%.0f, "bad_status": %%.0f, '
    .. '"errors": {"connect": %%.0f, "read": %%.0f, "write": %%.0f, "status": %%.0f, '
    .. '"timeout": %%.0f}, "p50_us": %%.0f, "p90_us": %%.0f, "p99_us": %%.0f, '
    .. '"mean_us": %%.1f, "max_us": %%.0f}\n',
    summary.requests, summary.duration, ok, bad, status,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
  out:close()
  local raw = io.open("%(result)s.bad", "w")
  raw:write(body)
  raw:close()
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for ASCII


def write_wrk_script(load: Load, workdir: Path, seed: int, tag: str) -> tuple[Path, Path]:
    headers = []
    if load.token:
        headers.append(f'wrk.headers["Authorization"] = {_lua_string("Bearer " + load.token)}')
    body = ""
    if load.body_file is not None:
        headers.append('wrk.headers["Content-Type"] = "application/json"')
        body = (f"local body_file = io.open({_lua_string(str(load.body_file))}, \"rb\")\n"
                "wrk.body = body_file:read(\"*a\")\nbody_file:close()")
    if load.proof_tree_size is not None:
        request = (f"local tree_size = {load.proof_tree_size}\n"
                   "request = function()\n"
                   f"  return wrk.format(nil, {_lua_string(load.path + '?index=')} .. "
                   "math.random(0, tree_size - 1) .. \"&tree_size=\" .. tree_size)\n"
                   "end")
    else:
        request = ""
    script = workdir / f"wrk-{tag}.lua"
    result = workdir / f"wrk-{tag}.json"
    script.write_text(_LUA % {"method": load.method, "headers": "\n".join(headers), "body": body,
                              "seed": seed, "request": request, "result": str(result)})
    return script, result


def run_wrk(base_url: str, load: Load, connections: int, seconds: float, workdir: Path,
            seed: int, tag: str) -> LoadResult:
    script, result_file = write_wrk_script(load, workdir, seed, tag)
    url = base_url + (load.path if load.proof_tree_size is None else "/")
    argv = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
            "--timeout", f"{WRK_TIMEOUT_S}s", "-s", str(script), url]
    completed = run_command(argv, dict(os.environ), seconds + WRK_TIMEOUT_S + 30, "wrk")
    if completed.returncode != 0 or not result_file.exists():
        raise BenchFailure(f"wrk failed ({completed.returncode}): {completed.stderr.strip()} "
                           f"{completed.stdout.strip()}")
    raw = json.loads(result_file.read_text())
    bad_body = Path(f"{result_file}.bad").read_text(errors="replace")
    return LoadResult(
        requests=int(raw["requests"]), ok=int(raw["ok"]), bad=int(raw["bad"]),
        bad_status=int(raw["bad_status"]), bad_body=bad_body,
        socket_errors={k: int(v) for k, v in raw["errors"].items() if k != "status"},
        seconds=raw["duration_us"] / 1e6, p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000, p99_ms=raw["p99_us"] / 1000,
        mean_ms=raw["mean_us"] / 1000, max_ms=raw["max_us"] / 1000)


def run_python_client(port: int, load: Load, connections: int, seconds: float,
                      seed: int) -> LoadResult:
    """The fallback load generator: asyncio, HTTP/1.1 keep-alive when the server allows."""
    rng = random.Random(seed)
    body = load.body_file.read_bytes() if load.body_file is not None else b""
    head = [f"Host: {HOST}:{port}"]
    if load.token:
        head.append(f"Authorization: Bearer {load.token}")
    if body:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    head_bytes = ("\r\n".join(head) + "\r\n\r\n").encode()

    def request_bytes() -> bytes:
        path = load.path
        if load.proof_tree_size is not None:
            n = load.proof_tree_size
            path += f"?index={rng.randrange(n)}&tree_size={n}"
        return f"{load.method} {path} HTTP/1.1\r\n".encode() + head_bytes + body

    latencies: list[float] = []
    counts = {"ok": 0, "bad": 0, "bad_status": 0, "bad_body": "", "connect": 0, "read": 0,
              "timeout": 0}

    async def one_connection(deadline: float) -> None:
        reader = writer = None
        while time.monotonic() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(HOST, port)
                started = perf()
                writer.write(request_bytes())
                status_line = await asyncio.wait_for(reader.readline(), WRK_TIMEOUT_S)
                if not status_line:
                    raise ConnectionResetError("closed")
                status = int(status_line.split()[1])
                length, close = 0, False
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                    elif name.lower() == "connection" and value.strip().lower() == "close":
                        close = True
                payload = await reader.readexactly(length)
                latencies.append(perf() - started)
                if 200 <= status < 300:
                    counts["ok"] += 1
                else:
                    counts["bad"] += 1
                    if not counts["bad_status"]:
                        counts["bad_status"], counts["bad_body"] = status, payload[:400].decode(
                            errors="replace")
                if close:
                    writer.close()
                    writer = None
            except asyncio.TimeoutError:
                counts["timeout"] += 1
                writer = None
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                counts["read" if writer is not None else "connect"] += 1
                writer = None
        if writer is not None:
            writer.close()

    async def main() -> float:
        started = perf()
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(one_connection(deadline) for _ in range(connections)))
        return perf() - started

    elapsed = asyncio.run(main())
    ordered = sorted(latencies) or [0.0]

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000

    return LoadResult(
        requests=len(latencies), ok=counts["ok"], bad=counts["bad"],
        bad_status=counts["bad_status"], bad_body=counts["bad_body"],
        socket_errors={k: counts[k] for k in ("connect", "read", "timeout")},
        seconds=elapsed, p50_ms=pct(50), p90_ms=pct(90), p99_ms=pct(99),
        mean_ms=sum(ordered) / len(ordered) * 1000, max_ms=ordered[-1] * 1000)


class LoadGenerator:
    def __init__(self, kind: str, workdir: Path, seed: int) -> None:
        self.kind = kind
        self.workdir = workdir
        self.seed = seed
        self._runs = 0

    @property
    def description(self) -> str:
        if self.kind == "wrk":
            version = run_command(["wrk", "--version"], dict(os.environ), 10, "wrk").stdout
            match = re.search(r"wrk\s+(\S+)", version)
            return f"wrk {match.group(1) if match else '?'} (1 thread, C)"
        why = ("chosen with --client python" if shutil.which("wrk")
               else "FALLBACK: wrk not installed")
        return f"Python asyncio client ({why}; it takes much more CPU from the server than wrk)"

    def run(self, server: Server, load: Load, connections: int, seconds: float,
            check: bool = True) -> LoadResult:
        self._runs += 1
        seed = self.seed + self._runs
        server_cpu = group_cpu_seconds(server.pid)
        if self.kind == "wrk":
            client_cpu = children_cpu_seconds()
            result = run_wrk(server.base_url, load, connections, seconds, self.workdir, seed,
                             f"{self._runs:03d}-{load.name}")
            result.client_cpu_s = children_cpu_seconds() - client_cpu
        else:
            client_cpu = time.process_time()
            result = run_python_client(server.port, load, connections, seconds, seed)
            result.client_cpu_s = time.process_time() - client_cpu
        # Requests still in flight when the client stopped are not counted, nor is
        # their CPU (mostly): the figure is an estimate good to a few per cent.
        result.server_cpu_s = group_cpu_seconds(server.pid) - server_cpu
        if check:
            require_all_ok(load, server, result)
        return result


def require_all_ok(load: Load, server: Server, result: LoadResult) -> None:
    errors = {k: v for k, v in result.socket_errors.items() if v}
    if result.bad or errors or result.ok == 0:
        detail = (f"{result.bad} of {result.requests} responses not 2xx (first: "
                  f"{result.bad_status} {result.bad_body[:300]!r}); socket errors {errors}")
        raise BenchFailure(f"{load.name} on {server.name}: {detail}\n"
                           f"server log tail:\n{server.log_tail()}")


# -- the benchmark ---------------------------------------------------------------

@dataclass
class Run:
    scenario: str
    server: str
    connections: int
    result: LoadResult
    note: str = ""
    all_per_s: tuple[float, ...] = ()  # every measured run's rate (--repeat), best first


@dataclass
class Bench:
    settings: Settings
    workdir: Path
    env: dict[str, str]
    app_url: str
    baseline_url: str
    generator: LoadGenerator
    sample: dict = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    accounting: list[str] = field(default_factory=list)
    ledger_added: int = 0
    proof_sizes: list[int] = field(default_factory=list)

    def token(self, org: str) -> str:
        return self.sample["organisations"][org]["token"]

    # set-up -------------------------------------------------------------------

    def prepare(self) -> None:
        tradezone = str(VENV_BIN / "tradezone")
        for argv in ([tradezone, "db", "upgrade"],
                     [tradezone, "demo", "load", "--tokens-file",
                      str(self.workdir / "demo-tokens.json")]):
            done = run_command(argv, self.env, 300, argv[1])
            if done.returncode != 0:
                raise BenchFailure(f"{' '.join(argv[1:3])} failed:\n{done.stderr}{done.stdout}")
        self.sample = json.loads((self.workdir / "demo-tokens.json").read_text())
        content = without_org_ids(copy.deepcopy(dict(
            DOCUMENT_TYPES["commercial_invoice"].example)))
        (self.workdir / "submit.json").write_text(
            json.dumps({"type": "commercial_invoice", "content": content}))
        baseline_app.create_schema(self.baseline_url)

    def loads(self, proof_tree_size: int) -> dict[str, Load]:
        invoice = self.sample["documents"]["invoice"]
        return {
            "submit": Load("submit", "POST", "/api/v1/documents", self.token("exporter"),
                           self.workdir / "submit.json"),
            "read": Load("read", "GET", f"/api/v1/documents/{invoice}", self.token("importer")),
            "proof": Load("proof", "GET", "/api/v1/ledger/proofs/inclusion",
                          proof_tree_size=proof_tree_size),
            "baseline": Load("baseline", "POST", "/rows", body_file=self.workdir / "submit.json"),
            "bare_get": Load("bare_get", "GET", "/healthz"),
        }

    # one request of each kind, checked for content ---------------------------

    def preflight(self, server: Server) -> None:
        base = server.base_url + "/api/v1"
        body = (self.workdir / "submit.json").read_bytes()
        status, submitted = http_json("POST", base + "/documents", self.token("exporter"), body)
        if status != 201 or "receipt" not in submitted:
            raise BenchFailure(f"a submission answered {status}: {submitted}")
        invoice = self.sample["documents"]["invoice"]
        status, read = http_json("GET", f"{base}/documents/{invoice}", self.token("importer"))
        if status != 200 or read.get("access") != "consent" or read.get("id") != invoice:
            raise BenchFailure(f"the read under consent answered {status}: {str(read)[:500]}")
        status, key = http_json("GET", base + "/ledger/key")
        status2, checkpoint = http_json("GET", base + "/ledger/checkpoint")
        if status != 200 or status2 != 200:
            raise BenchFailure(f"ledger key/checkpoint answered {status}/{status2}")
        verifier = ledger.NoteVerifier.from_verifier_key(key["verifier_key"])
        signed = ledger.open_checkpoint(checkpoint["checkpoint"], verifier)
        index = random.Random(self.settings.seed).randrange(signed.size)
        status, proof = http_json(
            "GET", f"{base}/ledger/proofs/inclusion?index={index}&tree_size={signed.size}")
        if status != 200:
            raise BenchFailure(f"an inclusion proof answered {status}: {proof}")
        ledger.verify_inclusion(b64(proof["leaf_hash"]), index, signed.size,
                                [b64(p) for p in proof["proof"]], signed.root_hash)

    # the app at one server setting --------------------------------------------

    def measure_app(self, setting: ServerSetting) -> None:
        connections = self.settings.connections_for(setting)
        server = app_server(setting, self.env, self.workdir)
        client_writes = 0
        write_runs = 0
        with server:
            size_before = ledger_size(server)
            self.preflight(server)
            client_writes += 2  # the preflight's submission and read
            for scenario in self.settings.scenarios:
                load = self.loads(ledger_size(server))[scenario]
                note = ""
                if scenario == "proof":
                    note = f"tree size {load.proof_tree_size:,}"
                    self.proof_sizes.append(load.proof_tree_size)
                results = self.measure(server, load, connections, f"{setting.label}: {scenario}")
                if scenario != "proof":
                    client_writes += sum(result.ok for result in results)
                    write_runs += len(results)
                self.runs.append(self.best_run(scenario, setting, connections, results, note))
            if self.settings.profile and setting == self.settings.servers[0]:
                profiled = self.profile(server, connections, self.settings.profile)
                if self.settings.profile != "proof":
                    client_writes += profiled
                    write_runs += 1
            size_after = settled_ledger_size(server)
        # Stopped: every access-log line is written.
        lines = server.access_lines()
        not_ok = [line for line in lines if not 200 <= line[2] < 300]
        if not_ok:
            raise BenchFailure(f"{server.name} logged {len(not_ok)} non-2xx responses, e.g. "
                               f"{not_ok[:3]}")
        server_writes = sum(1 for method, path, _ in lines
                            if (method == "POST" and _SUBMIT_PATH.match(path))
                            or (method == "GET" and _READ_PATH.match(path)))
        added = size_after - size_before
        in_flight = server_writes - client_writes
        line = (f"{setting.label}: ledger {size_before:,} -> {size_after:,} (+{added:,}) = "
                f"{server_writes:,} 2xx submissions+reads in the server's access log; client saw "
                f"{client_writes:,} (+{in_flight} in flight when the client stopped)")
        self.accounting.append(line)
        log_progress("  " + line)
        if added != server_writes:
            raise BenchFailure(f"ledger accounting: the log grew by {added:,} entries but the "
                               f"server answered {server_writes:,} submissions and reads with 2xx")
        if not 0 <= in_flight <= connections * write_runs:
            raise BenchFailure(f"ledger accounting: the server logged {server_writes:,} writes, "
                               f"the client counted {client_writes:,} 2xx answers")
        self.ledger_added += added

    def measure(self, server: Server, load: Load, connections: int,
                what: str) -> list[LoadResult]:
        """A warm-up, then ``--repeat`` measured runs of ``load``."""
        settings = self.settings
        log_progress(f"  {what} ({connections} connections, {settings.warmup:g} s warm-up + "
                     f"{settings.repeat} x {settings.duration:g} s)")
        results = []
        if settings.warmup > 0:
            results.append(self.generator.run(server, load, connections, settings.warmup))
        for _ in range(settings.repeat):
            result = self.generator.run(server, load, connections, settings.duration)
            log_progress(f"    {result.per_s:,.0f}/s, p50 {result.p50_ms:.1f} ms, "
                         f"p99 {result.p99_ms:.1f} ms, server CPU "
                         f"{result.server_cpu_ms:.2f} ms/request")
            results.append(result)
        return results

    def best_run(self, scenario: str, setting: ServerSetting, connections: int,
                 results: list[LoadResult], note: str = "") -> Run:
        """The fastest measured run (the warm-up, first when there is one, is not measured)."""
        measured = results[-self.settings.repeat:]
        ranked = sorted(measured, key=lambda result: result.per_s, reverse=True)
        if len(ranked) > 1:
            note = " ".join(filter(None, [note, f"best of {len(ranked)}"]))
        return Run(scenario, setting.label, connections, ranked[0], note,
                   tuple(result.per_s for result in ranked))

    def profile(self, server: Server, connections: int, scenario: str) -> int:
        """One more run of ``scenario`` with py-spy sampling every server process;
        returns the 2xx count (for the ledger accounting)."""
        py_spy = shutil.which("py-spy", path=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
        if py_spy is None:
            raise BenchFailure("--profile needs py-spy: .venv/bin/pip install py-spy")
        seconds = max(2, int(self.settings.duration))
        output = self.workdir / f"{scenario}-profile.txt"
        log_progress(f"  profiling {scenario} under py-spy for {seconds} s")
        spy = subprocess.Popen(
            [py_spy, "record", "--subprocesses", "--nonblocking", "--rate", "200", "--format",
             "raw", "--duration", str(seconds), "--pid", str(server.pid), "-o", str(output)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            time.sleep(0.5)  # let py-spy attach before the load starts
            load = self.loads(ledger_size(server))[scenario]
            result = self.generator.run(server, load, connections, seconds)
            _, spy_err = spy.communicate(timeout=seconds + 60)
        except BaseException:
            _kill_group(spy)
            raise
        if spy.returncode != 0 or not output.exists():
            raise BenchFailure(f"py-spy failed ({spy.returncode}): {spy_err.strip()[-500:]}")
        print_profile(output, f"{scenario}, {server.name}, {result.per_s:,.0f}/s under py-spy "
                              f"({connections} connections, {seconds} s)")
        return result.ok

    def measure_baseline(self, setting: ServerSetting) -> None:
        connections = self.settings.connections_for(setting)
        server = baseline_server(setting, self.env, self.baseline_url, self.workdir)
        load = self.loads(0)["baseline"]
        rows_before = baseline_app.count_rows(self.baseline_url)
        with server:
            results = self.measure(server, load, connections, f"{setting.label}: baseline")
            self.runs.append(self.best_run("baseline", setting, connections, results))
            if self.settings.bare_get:
                get = self.loads(0)["bare_get"]
                results = self.measure(server, get, connections, f"{setting.label}: bare GET")
                self.runs.append(self.best_run("bare_get", setting, connections, results,
                                               "ceiling for any GET"))
        lines = server.access_lines()
        inserted = baseline_app.count_rows(self.baseline_url) - rows_before
        logged = sum(1 for method, path, status in lines
                     if method == "POST" and path == "/rows" and 200 <= status < 300)
        if any(not 200 <= status < 300 for _, _, status in lines) or inserted != logged:
            raise BenchFailure(f"baseline on {setting.label}: {inserted} rows inserted, "
                               f"{logged} 2xx POSTs logged, {len(lines)} requests")

    def ledger_check(self) -> str:
        done = run_command([str(VENV_BIN / "tradezone"), "ledger", "check"], self.env, 1800,
                           "ledger check")
        summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
        if done.returncode != 0:
            raise BenchFailure(f"tradezone ledger check failed: {summary}\n{done.stderr[-2000:]}")
        return summary


def without_org_ids(value):
    """The example's placeholder organisation ids removed, at any depth
    (as ``tests/app/conftest.py`` does)."""
    if isinstance(value, dict):
        return {k: without_org_ids(v) for k, v in value.items() if k != "org_id"}
    if isinstance(value, list):
        return [without_org_ids(v) for v in value]
    return value


# -- profile summary (--profile) ---------------------------------------------------

_PROFILE_LIBRARY_FRAMES = (
    "SyncWorker.handle (", "ThreadWorker.handle (", "Request.__init__ (gunicorn",
    "Response.write (gunicorn", "close_graceful (", "Logger.access (", "Flask.__call__ (",
    "Schema.load (marshmallow", "Schema.dump (marshmallow", "Session.flush (",
    "Session.execute (", "DefaultDialect.do_execute (", "DefaultDialect.do_commit (",
    "_begin_sqlite_transaction (", "Connection.begin (", "EdDSASigScheme.sign (",
    "dumps (rfc8785", "dumps (json", "sha256",
)


def read_collapsed(path: Path) -> list[tuple[list[str], int]]:
    """py-spy's raw (collapsed) stacks, without process frames and line numbers."""
    stacks, pending = [], ""
    for line in path.read_text(errors="replace").splitlines():
        pending += line
        stack, _, count = pending.rpartition(" ")
        if not count.isdigit():
            continue  # a frame name with a newline in it: the stack goes on
        pending = ""
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")
                  if not frame.startswith("process ")]
        stacks.append((frames or ["<no Python frame>"], int(count)))
    return stacks


def print_profile(path: Path, title: str, top: int = 25) -> None:
    stacks = read_collapsed(path)
    total = sum(count for _, count in stacks) or 1
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    for frames, count in stacks:
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
    err = sys.stderr
    print(f"\n===== py-spy: {title}; {total:,} samples of busy server threads =====", file=err)
    print("inclusive share, project code and chosen library frames (>= 1%):", file=err)
    chosen = [(n, f) for f, n in inclusive.items()
              if (" (app/" in f or " (ledger/" in f or any(k in f for k in _PROFILE_LIBRARY_FRAMES))
              and n / total >= 0.01]
    for count, frame in sorted(chosen, reverse=True):
        print(f"  {100 * count / total:5.1f}%  {frame}", file=err)
    print(f"own time, top {top}:", file=err)
    for frame, count in sorted(own.items(), key=lambda item: -item[1])[:top]:
        print(f"  {100 * count / total:5.1f}%  {frame}", file=err)


# -- results ---------------------------------------------------------------------

def best_runs(runs: list[Run]) -> dict[str, Run]:
    best: dict[str, Run] = {}
    for run in runs:
        if run.scenario not in best or run.result.per_s > best[run.scenario].result.per_s:
            best[run.scenario] = run
    return best


def baseline_for(runs: list[Run], server: str) -> Run | None:
    return next((r for r in runs if r.scenario == "baseline" and r.server == server), None)


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


def _cells(title: str, run: Run, base_text: str, ratio_text: str, note: str) -> tuple:
    r = run.result
    return (title, run.server, str(run.connections), f"{r.per_s:,.0f}", f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}", f"{r.server_cpu_ms:.2f}", f"{100 * r.server_cpu_s / r.seconds:.0f}%",
            f"{100 * r.client_cpu_s / r.seconds:.0f}%", base_text, ratio_text, note)


def print_table(runs: list[Run]) -> None:
    headers = ("scenario", "server", "conns", "req/s", "p50 ms", "p99 ms", "srv CPU ms/req",
               "srv CPU", "client CPU", "baseline req/s", "ratio", "note")
    cells = [headers]
    order = {name: i for i, name in enumerate((*SCENARIOS, *EXTRA))}
    for run in sorted(runs, key=lambda r: order[r.scenario]):
        base = baseline_for(runs, run.server)
        if run.scenario in EXTRA or base is None:
            cells.append(_cells(SCENARIO_TITLES[run.scenario], run, "-", "-", run.note))
        else:
            cells.append(_cells(SCENARIO_TITLES[run.scenario], run, f"{base.result.per_s:,.0f}",
                                ratio(run.result.per_s, base.result.per_s), run.note))
    best = best_runs(runs)
    base = best.get("baseline")
    cells.append(("",) * len(headers))
    for scenario in (*SCENARIOS, *EXTRA):
        run = best.get(scenario)
        if run is None:
            continue
        if scenario in EXTRA or base is None:
            cells.append(_cells(f"BEST {scenario}", run, "-", "-", run.note))
        else:
            cells.append(_cells(f"BEST {scenario}", run,
                                f"{base.result.per_s:,.0f} ({base.server})",
                                ratio(run.result.per_s, base.result.per_s), run.note))
    for scenario, goal in (("submit", GOAL_SUBMIT_PER_S), ("proof", GOAL_PROOF_PER_S)):
        run = best.get(scenario)
        if run is not None:
            met = run.result.per_s >= goal
            cells.append((f"GOAL {scenario} >= {goal:,}/s", run.server, "",
                          f"{run.result.per_s:,.0f}", "", "", "", "", "",
                          "met" if met else "NOT MET", ratio(run.result.per_s, goal),
                          "ratio = best / goal"))
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    align = ("<", "<", ">", ">", ">", ">", ">", ">", ">", ">", ">", "<")
    for number, row in enumerate(cells):
        print("  ".join(f"{c:{a}{w}}" for c, a, w in zip(row, align, widths)).rstrip())
        if number == 0:
            print("  ".join("-" * w for w in widths))


def figures(bench: Bench | None, runs: list[Run]) -> dict:
    out: dict = {}
    best = best_runs(runs)
    keys = {"submit": "submit", "read": "read", "proof": "proof", "baseline": "baseline_insert",
            "bare_get": "bare_get"}
    for scenario, name in keys.items():
        run = best.get(scenario)
        if run is None:
            continue
        out[f"{name}_per_s"] = round(run.result.per_s, 1)
        out[f"{name}_p50_ms"] = round(run.result.p50_ms, 2)
        out[f"{name}_p99_ms"] = round(run.result.p99_ms, 2)
        out[f"{name}_server"] = run.server
        out[f"{name}_server_cpu_ms"] = round(run.result.server_cpu_ms, 3)
    base = best.get("baseline")
    for scenario in SCENARIOS:
        if scenario in best and base is not None:
            out[f"{scenario}_vs_baseline"] = round(best[scenario].result.per_s
                                                   / base.result.per_s, 4)
    if "proof" in best and "bare_get" in best:
        out["proof_vs_bare_get"] = round(best["proof"].result.per_s
                                         / best["bare_get"].result.per_s, 4)
    if "submit" in best:
        out["goal_submit_per_s"] = GOAL_SUBMIT_PER_S
        out["goal_submit_met"] = best["submit"].result.per_s >= GOAL_SUBMIT_PER_S
    if "proof" in best:
        out["goal_proof_per_s"] = GOAL_PROOF_PER_S
        out["goal_proof_met"] = best["proof"].result.per_s >= GOAL_PROOF_PER_S
    out["runs"] = [{"scenario": r.scenario, "server": r.server, "connections": r.connections,
                    "per_s": round(r.result.per_s, 1), "p50_ms": round(r.result.p50_ms, 2),
                    "p90_ms": round(r.result.p90_ms, 2), "p99_ms": round(r.result.p99_ms, 2),
                    "max_ms": round(r.result.max_ms, 1), "requests": r.result.requests,
                    "server_cpu_ms_per_req": round(r.result.server_cpu_ms, 3),
                    "server_cpu_pct": round(100 * r.result.server_cpu_s / r.result.seconds, 1),
                    "client_cpu_pct": round(100 * r.result.client_cpu_s / r.result.seconds, 1),
                    "seconds": round(r.result.seconds, 2),
                    "all_per_s": [round(rate, 1) for rate in r.all_per_s]} for r in runs]
    if bench is not None:
        out["ledger_entries_added"] = bench.ledger_added
        out["proof_tree_sizes"] = bench.proof_sizes
    return out


# -- main ------------------------------------------------------------------------

def wait_for_quiet_machine(settings: Settings) -> tuple[float, bool]:
    """Wait up to --load-wait s for the 1-minute load to drop below --max-load."""
    deadline = time.monotonic() + settings.load_wait
    load = os.getloadavg()[0]
    while load >= settings.max_load and time.monotonic() < deadline:
        log_progress(f"1-minute load {load:.2f} >= {settings.max_load:g}; waiting "
                     f"(up to {deadline - time.monotonic():.0f} s more)")
        time.sleep(min(15.0, max(0.0, deadline - time.monotonic())))
        load = os.getloadavg()[0]
    return load, load < settings.max_load


def code_version() -> str:
    """The commit measured, "+dirty" when app/, ledger/ or migrations/ differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "app", "ledger",
                                "migrations"], cwd=ROOT, timeout=10).returncode != 0
    except (OSError, subprocess.SubprocessError):
        return "?"
    return (head or "?") + ("+dirty" if dirty else "")


def choose_client(settings: Settings) -> str:
    has_wrk = shutil.which("wrk") is not None
    if settings.client == "wrk" and not has_wrk:
        raise SystemExit("wrk is not installed: bash deploy/ensure-packages.sh wrk")
    if settings.client == "python" or not has_wrk:
        if settings.client == "auto":
            log_progress("wrk not found (bash deploy/ensure-packages.sh wrk): FALLING BACK to "
                         "the Python asyncio client, which competes with the server for CPU")
        return "python"
    return "wrk"


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    harness.stop_on_sigterm()
    started = perf()
    client = choose_client(settings)
    info: dict = {"quick": settings.quick, "duration_s": settings.duration,
                  "repeat": settings.repeat,
                  "warmup_s": settings.warmup, "servers": [s.label for s in settings.servers],
                  "cpus": os.cpu_count(), "python": pyplatform.python_version(),
                  "code": code_version()}
    load_at_start, quiet = wait_for_quiet_machine(settings)
    info["loadavg_start"] = round(load_at_start, 2)
    bench: Bench | None = None
    failure: str | None = None
    check_summary = ""
    with ExitStack() as stack:
        workdir = stack.enter_context(harness.temporary_dir("tz-api-bench-", settings.tmpdir))
        if settings.postgres:
            from tests.services.postgres import PostgresCluster
            log_progress("starting a throwaway PostgreSQL cluster on 127.0.0.1")
            pg = stack.enter_context(PostgresCluster(durable=True))
            pg.create_database("tradezone_api_bench")
            pg.create_database("baseline_api_bench")
            app_url, base_url, backend = (pg.url("tradezone_api_bench"),
                                          pg.url("baseline_api_bench"), "postgresql")
        elif settings.database_url:
            app_url = settings.database_url
            backend = app_url.split(":", 1)[0].split("+", 1)[0]
            # SQLite: the baseline gets its own one-table file, as in the default run.
            base_url = (f"sqlite:///{workdir / 'baseline.sqlite3'}" if backend == "sqlite"
                        else app_url)
        else:
            app_url = f"sqlite:///{workdir / 'tradezone.sqlite3'}"
            base_url = f"sqlite:///{workdir / 'baseline.sqlite3'}"
            backend = "sqlite"
        info["database"] = backend
        generator = LoadGenerator(client, workdir, settings.seed)
        info["client"] = generator.description
        bench = Bench(settings, workdir, server_env(dict(os.environ), app_url, workdir),
                      app_url, base_url, generator)
        try:
            log_progress(f"api bench on {backend}: migrating and loading the sample trade")
            bench.prepare()
            for setting in settings.servers:
                log_progress(f"server {setting.label}")
                bench.measure_app(setting)
                bench.measure_baseline(setting)
            log_progress("tradezone ledger check")
            check_summary = bench.ledger_check()
        except BenchFailure as error:
            failure = str(error)
    info["loadavg_end"] = round(os.getloadavg()[0], 2)
    info["elapsed_s"] = round(perf() - started, 1)
    runs = bench.runs if bench else []

    print(f"\nAPI benchmark: Tradezone under gunicorn on {backend}, {os.cpu_count()} CPUs, "
          f"Python {pyplatform.python_version()}; {settings.duration:g} s per scenario after "
          f"{settings.warmup:g} s of warm-up"
          f"{f', best of {settings.repeat} runs' if settings.repeat > 1 else ''}; "
          f"code {info['code']}")
    print(f"Load generator: {info['client']}, on the same machine: client and server share "
          f"the {os.cpu_count()} cores.")
    print(f"1-minute load average: {info['loadavg_start']} at start"
          f"{'' if quiet else f' (NOT below {settings.max_load:g}: figures are skewed)'}, "
          f"{info['loadavg_end']} at end (the run itself loads the machine).")
    print("req/s counts 2xx responses only; ratio = req/s / the baseline's req/s at the same "
          "server setting (BEST rows: best / best baseline).")
    print("srv CPU ms/req: user+system CPU of gunicorn's master and workers per response; "
          "srv CPU / client CPU: share of one core (200% = both cores).\n")
    print_table(runs)
    if bench and bench.accounting:
        print("\nLedger accounting (each 2xx submission and read adds exactly one entry):")
        for line in bench.accounting:
            print("  " + line)
    if check_summary:
        print(f"tradezone ledger check: {check_summary}")
    result = figures(bench, runs) | info
    result["ok"] = failure is None
    if failure:
        message = f"\nBENCHMARK FAILED: {failure}\n"
        print(message, file=sys.stderr)
        print(message.strip().splitlines()[0])
    print(json.dumps(result, sort_keys=True))
    return 0 if failure is None else 1


if __name__ == "__main__":
    harness.run(main)
