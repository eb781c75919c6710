# SPDX-License-Identifier: MIT
"""Hostile Hub servers (issue 10, items 3, 4, 9, 10, 11) through the real CLI (``embdim fetch`` /
``embdim revisions`` in a subprocess, HF_ENDPOINT = a loopback ``FakeHub`` with hostile modes).

Every case asserts the exit code, one error line on stderr (no traceback), nothing at ``--out`` or
beside it, the token in no output, and a time bound. The stand-in's hostile modes are bounded in
bytes and time (``tests/hubs/hubserver.py``), and every request goes to 127.0.0.1.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from tests.fixtures import make_pythia_like_repo
from tests.hubs.hubserver import FakeHub

REPO = "EleutherAI/pythia-14m"
TOKEN = "hf_hostileSECRETtoken24680"
MiB = 1 << 20
# Short timeouts so hangs end in seconds: 2 s of silence, 3 s per request, 2 retries.
FAST = {"EMBDIM_BACKOFF_BASE": "0.01", "EMBDIM_MAX_RETRIES": "2", "EMBDIM_HTTP_TIMEOUT": "2",
        "EMBDIM_HTTP_CONNECT_TIMEOUT": "2", "EMBDIM_HTTP_DEADLINE": "3"}
# The CLI as a subprocess; its peak RSS goes to $RSS_FILE (to show that caps bound memory).
# (VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.)
CLI = ("import atexit, os, re\n"
       "def rss():\n"
       "    kb = re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1)\n"
       "    open(os.environ['RSS_FILE'], 'w').write(kb)\n"
       "atexit.register(rss)\n"
       "from embdim.cli import run\nrun()\n")


@dataclass
class Outcome:
    rc: int | None  # None: still running at the timeout (killed)
    seconds: float
    stdout: str
    stderr: str
    rss_mb: float


def run_cli(args: list[str], env: dict, timeout: float = 60.0, cwd=None) -> Outcome:
    """``embdim ARGS`` in a subprocess, killed after ``timeout`` s (that counts as a hang)."""
    rss = Path(env["RSS_FILE"])
    rss.unlink(missing_ok=True)
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, "-c", CLI, *args], env=env, cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        out, err = p.communicate()
        rc = None
    secs = time.monotonic() - t0
    mb = int(rss.read_text()) / 1024 if rss.exists() and rss.read_text() else float("nan")
    return Outcome(rc, secs, out, err, mb)


def cli_env(hub, tmp: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "EMBDIM_"))}
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp / "hf_home"), HF_HUB_DISABLE_TELEMETRY="1",
               HF_TOKEN=TOKEN, RSS_FILE=str(tmp / "rss"), **FAST)
    env.update(extra)
    return env


# -- the cases ---------------------------------------------------------------------------------------
@dataclass
class Case:
    name: str
    setup: Callable  # (hub) -> None: inject the hostile behaviour
    cmd: str = "fetch"  # "fetch" or "revisions"
    rc: int = 4
    msg: str = ""  # regex the error line must match
    seconds: float = 30.0
    flags: tuple = ()
    env: dict | None = None
    max_rss_mb: float | None = None


def api(tail: str) -> str:
    return f"/api/models/{REPO}/{tail}"


def huge_list(n_bytes: int) -> bytes:
    item = json.dumps({"type": "file", "path": "junk.txt", "size": 1, "oid": "0" * 40}).encode()
    return b"[" + b",".join([item] * (n_bytes // (len(item) + 1))) + b"]"


def huge_refs(n_bytes: int) -> bytes:
    br = json.dumps({"name": "step1000", "ref": "refs/heads/step1000", "targetCommit": "0" * 40}).encode()
    return b'{"branches": [' + b",".join([br] * (n_bytes // (len(br) + 1))) + b'], "tags": []}'


def refs_with(branches: list[dict]) -> Callable:
    return lambda hub: hub.inject_body("/refs", json.dumps({"branches": branches, "tags": []}).encode(),
                                       headers={"Content-Type": "application/json"}, times=5)


def redirect(path: str, location: str, times: int = 50) -> Callable:
    return lambda hub: hub.inject_status(path, 302, times=times, headers={"Location": location})


RESOLVE = f"/{REPO}/resolve/step1000/model.safetensors"
CASES = [
    # item 3: an endpoint that accepts the connection and never answers
    Case("hang-revision-info", lambda h: h.inject_hang("/revision/", times=10), msg=r"revision info.*(Timeout|deadline)"),
    Case("hang-paths-info", lambda h: h.inject_hang("/paths-info/", times=10), msg=r"paths-info.*(Timeout|deadline)"),
    Case("hang-tree", lambda h: h.inject_hang("/tree/", times=10), cmd="revisions", msg=r"tree listing.*(Timeout|deadline)"),
    Case("hang-refs", lambda h: h.inject_hang("/refs", times=10), cmd="revisions", msg=r"refs.*(Timeout|deadline)"),
    Case("hang-file-read", lambda h: h.inject_hang("/resolve/", times=10), msg=r"GET .*(Timeout|deadline)"),
    # item 4: trickling (every byte resets a read timeout) and long Retry-After
    Case("trickle-header-read", lambda h: h.inject_trickle("/resolve/", times=10, interval=1.0, limit=60),
         msg=r"GET .*deadline"),
    Case("trickle-api-headers", lambda h: h.inject_trickle("/revision/", headers=True, times=10, interval=1.0),
         msg=r"revision info.*deadline"),
    Case("retry-after-900", lambda h: h.inject_429("/revision/", retry_after=900, times=10),
         msg=r"rate limited.*900 s.*300 s"),
    Case("retry-after-over-flag", lambda h: h.inject_429("/resolve/", retry_after=5, times=10),
         flags=("--max-retry-after", "2"), msg=r"rate limited.*5 s.*--max-retry-after"),
    Case("retry-after-over-env", lambda h: h.inject_429("/refs", retry_after=5, times=10), cmd="revisions",
         env={"EMBDIM_MAX_RETRY_AFTER": "2"}, msg=r"rate limited.*5 s.*EMBDIM_MAX_RETRY_AFTER"),
    Case("retry-after-announced", lambda h: h.inject_429("/resolve/", retry_after=5), rc=0,
         msg=r"rate limited, waiting 5 s \(attempt 2/3\)"),
    # item 9: redirects httpx refuses (API calls follow them inside httpx, file reads in embdim)
    Case("api-redirect-loop", redirect("/revision/", api("revision/step1000?expand=sha")), msg=r"redirect"),
    Case("api-redirect-ftp", redirect("/revision/", "ftp://127.0.0.1/x"), msg=r"revision info.*ftp"),
    Case("api-redirect-file", redirect("/paths-info/", "file:///etc/passwd"), msg=r"paths-info.*file"),
    Case("api-redirect-port-99999", redirect("/revision/", "http://127.0.0.1:99999/x"), msg=r"revision info.*99999"),
    Case("api-redirect-other-origin", lambda h: h.inject_status("/revision/", 302, times=5, headers={
        "Location": h.cdn_url + "/blobs/" + "0" * 64}), rc=0),  # token dropped; refs answer instead
    Case("file-redirect-loop", redirect("/resolve/", RESOLVE), msg=r"redirects"),
    Case("file-redirect-ftp", redirect("/resolve/", "ftp://127.0.0.1/x"), msg=r"ftp"),
    Case("file-redirect-file", redirect("/resolve/", "file:///etc/passwd"), msg=r"file"),
    Case("file-redirect-port-99999", redirect("/resolve/", "http://127.0.0.1:99999/blob"), msg=r"99999"),
    # item 10: answers far larger than any real one
    Case("huge-paths-info", lambda h: h.inject_body("/paths-info/", huge_list(71 * MiB)),
         msg=r"paths-info.*larger than", max_rss_mb=300),
    Case("huge-tree", lambda h: h.inject_body("/tree/", huge_list(71 * MiB), times=5), cmd="revisions",
         msg=r"tree listing.*larger than", max_rss_mb=300),
    Case("huge-refs", lambda h: h.inject_body("/refs", huge_refs(71 * MiB)), cmd="revisions",
         msg=r"refs.*larger than", max_rss_mb=300),
    Case("huge-revision-info", lambda h: h.inject_body("/revision/", b'{"sha": "' + b"a" * (40 * MiB) + b'"}'),
         msg=r"revision info.*larger than", max_rss_mb=300),
    Case("huge-index-json", lambda h: h.add_revision(REPO, "step1000", {
        "model.safetensors.index.json": b'{"weight_map": {}, "pad": "' + b"x" * (50 * MiB) + b'"}'}),
         rc=5, msg=r"index.*larger than", max_rss_mb=300),
    # item 11: server strings that must not reach revisions.tsv, stdout or stderr raw
    Case("refs-tab-in-branch", refs_with([{"name": "step1000\t1\t" + "0" * 40 + "\tmodel.safetensors\t\tok\nstep7",
                                           "targetCommit": "0" * 40}]), cmd="revisions", msg=r"control character"),
    Case("refs-tab-only", refs_with([{"name": "step7\t7\t" + "0" * 40 + "\tmodel.safetensors\t\tok",
                                      "targetCommit": "0" * 40}]), cmd="revisions", msg=r"control character"),
    Case("refs-bad-target-commit", refs_with([{"name": "step1000", "targetCommit": "0" * 40 + "\tx\nstep7\t7"}]),
         cmd="revisions", msg=r"not 40 lowercase hex"),
    Case("revision-sha-not-hex", lambda h: h.inject_body("/revision/", json.dumps({"sha": "not-a-sha\nINJECTED"}).encode(),
                                                           headers={"Content-Type": "application/json"}),
         msg=r"not 40 lowercase hex"),
]


def run_case(case: Case, tmp: Path, timeout: float = 60.0, env_extra: dict | None = None) -> tuple[Outcome, FakeHub, Path]:
    """Serve a tiny repo, make it hostile, run the case's command; returns (outcome, hub, out dir)."""
    out_dir = tmp / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    with FakeHub(token=TOKEN) as hub:
        make_pythia_like_repo(hub, REPO, [1000], vocab=64, dim=16, main=False)
        case.setup(hub)
        if case.cmd == "fetch":
            args = ["fetch", REPO, "--revision", "step1000", "--out", str(out_dir / "e.safetensors"), "--json"]
        else:
            args = ["revisions", REPO, "--out", str(out_dir / "revisions.tsv"), "--json"]
        env = cli_env(hub, tmp, **(case.env or {}), **(env_extra or {}))
        res = run_cli(args + list(case.flags), env, timeout=timeout)
    return res, hub, out_dir


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_server(case, tmp_path):
    res, hub, out_dir = run_case(case, tmp_path, timeout=case.seconds + 30)
    assert res.rc is not None, f"still running after {res.seconds:.0f} s"
    err_lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.rc == case.rc, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    assert TOKEN not in res.stdout + res.stderr
    assert res.seconds < case.seconds, f"took {res.seconds:.1f} s"
    if case.max_rss_mb:
        assert res.rss_mb < case.max_rss_mb, f"peak RSS {res.rss_mb:.0f} MB"
    assert all(r.server == "hub" or "authorization" not in r.headers for r in hub.requests)
    assert not case.msg or any(re.search(case.msg, ln) for ln in err_lines), res.stderr
    assert any(r.server == "cdn" for r in hub.requests) or "other-origin" not in case.name
    if case.rc == 0:
        return
    # one error line, the last one (announced waits may come before it), and one JSON error object
    assert err_lines[-1].startswith(f"embdim {case.cmd}: error: "), res.stderr
    assert all(ln.startswith(f"embdim {case.cmd}: ") or ln.startswith("embdim: ") for ln in err_lines), res.stderr
    error = json.loads(res.stdout)["error"]
    assert error["exit_code"] == case.rc
    assert list(out_dir.iterdir()) == []  # nothing at --out, no temporary beside it
    # a server string is never echoed raw: no control character in any message (escaped is fine)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", error["message"] + res.stderr.replace("\n", ""))


def test_revisions_tsv_holds_only_clean_rows(tmp_path):
    """A refs answer with a valid and a hostile branch: the listing is refused as a whole (git forbids
    control characters in ref names, so such an answer is not from a git server)."""
    case = Case("mixed", refs_with([{"name": "step1000", "targetCommit": "0" * 40},
                                    {"name": "step2\nstep7", "targetCommit": "1" * 40}]), cmd="revisions")
    res, _, out_dir = run_case(case, tmp_path)
    assert res.rc == 4 and "control character" in res.stderr and not (out_dir / "revisions.tsv").exists()


def test_timeouts_are_configurable_and_documented():
    from embdim.cli import build_parser
    for cmd in ("fetch", "revisions"):
        sub = build_parser()._subparsers._group_actions[0].choices[cmd]
        text = sub.format_help()
        assert "--max-retry-after" in text
        for var in ("EMBDIM_HTTP_TIMEOUT", "EMBDIM_HTTP_CONNECT_TIMEOUT", "EMBDIM_HTTP_DEADLINE",
                    "EMBDIM_HTTP_MIN_RATE", "EMBDIM_MAX_RETRY_AFTER"):
            assert var in text, (cmd, var)


@pytest.mark.parametrize("var,value", [("EMBDIM_HTTP_TIMEOUT", "abc"), ("EMBDIM_HTTP_DEADLINE", "-1"),
                                       ("EMBDIM_MAX_RETRY_AFTER", "nan"), ("EMBDIM_MAX_RETRIES", "x")])
def test_bad_network_setting_is_one_usage_line(var, value, tmp_path):
    with FakeHub(token=TOKEN) as hub:
        res = run_cli(["fetch", REPO, "--revision", "step1000", "--out", str(tmp_path / "e.safetensors")],
                      cli_env(hub, tmp_path, **{var: value}), timeout=60)
        assert hub.requests == []
    assert res.rc == 2 and res.stderr.count("\n") == 1 and var in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "e.safetensors").exists()
