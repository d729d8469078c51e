#!/usr/bin/env python3
"""Conformance harness: runs the official Twilio / SignalWire clients against a real confab.

Run with the py-tools virtualenv (scripts/install-test-deps.sh creates it):

    .test-deps/py-tools/bin/python tests/conformance/run.py [--only SUITE ...] [--confab PATH]

It builds nothing. It starts `confab serve` (plain HTTP + HTTPS with .test-deps/tls/cert.pem) on
free ports with a temporary data dir, mints accounts of both SID styles with
`confab accounts create --json`, runs every client suite with its own runner (pytest in the
suite's virtualenv, `node --test` for Node), then validates every captured Twilio-dialect
response body against the OpenAPI file and runs schemathesis, and stops the server.
Output: target/conformance/ (junit XML, captures.jsonl, server.log). Exit status 0 only if
every runner passed.
"""
import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DEPS = os.path.join(ROOT, ".test-deps")
SPEC_DIR = os.path.join(HERE, "spec")
SPEC = os.path.join(SPEC_DIR, "twilio_api_v2010_conference.json")
VOICE_SPEC = os.path.join(SPEC_DIR, "twilio_api_v2010_voice.json")
OUT = os.path.join(ROOT, "target", "conformance")
CERT = os.path.join(DEPS, "tls", "cert.pem")
KEY = os.path.join(DEPS, "tls", "key.pem")
NODE_MODULES = os.path.join(DEPS, "node", "node_modules")


def venv_python(name):
    return os.path.join(DEPS, name, "bin", "python")


def pytest_cmd(venv, target, junit, extra=()):
    return [venv_python(venv), "-m", "pytest", target, "-p", "no:cacheprovider", "-q", "-rfE",
            "--color=no", "-o", "junit_family=xunit2", "--junitxml", junit, "--rootdir", os.path.dirname(target),
            *extra]


def node_cmd(target, junit):
    return ["node", "--test", "--test-concurrency=1",
            "--test-reporter=spec", "--test-reporter-destination=stdout",
            "--test-reporter=junit", "--test-reporter-destination=" + junit, target]


# name -> (kind, target); kind decides the runner
SUITES = [
    ("twilio-python9", "py-twilio9", "suites/twilio_python9"),
    ("twilio-node6", "node", "suites/node/twilio_node6.test.js"),
    ("signalwire2", "py-signalwire2", "suites/signalwire2"),
    ("signalwire-sdk302", "py-swsdk302", "suites/swsdk302"),
    ("compat-api3", "node", "suites/node/compat_api.test.js"),
    ("raw-http", "py-tools", "suites/raw_http"),
    # README's SIP walkthrough: starts its own confab with SIP and two baresips (needs baresip-core)
    ("sip-walkthrough", "py-twilio9", "suites/sip_walkthrough"),
]
POST_SUITES = [
    ("contract", "py-tools", "contract/test_contract.py"),
    ("schemathesis", "py-tools", "contract/test_schemathesis.py"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Server:
    def __init__(self, cmd, data_dir, log_path):
        self.cmd = cmd
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = free_port()
        self.tls_port = free_port()
        while self.tls_port == self.port:
            self.tls_port = free_port()
        self.proc = None

    def start(self, timeout=90):
        # No SIP here (the suites test the HTTP API): the default SIP port may be taken.
        args = self.cmd + ["serve", "--sip-listen", "off", "--data-dir", self.data_dir,
                           "--listen", "127.0.0.1:%d" % self.port,
                           "--tls-listen", "127.0.0.1:%d" % self.tls_port, "--tls-cert", CERT, "--tls-key", KEY]
        self.log = open(self.log_path, "ab")
        self.log.write(("$ %s\n" % " ".join(map(shlex.quote, args))).encode())
        self.log.flush()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("confab exited with %s before listening; see %s:\n%s"
                                   % (self.proc.returncode, self.log_path, self.tail()))
            with open(self.log_path, "rb") as f:
                ready = b"listening on" in f.read()
            if ready and port_open(self.port) and port_open(self.tls_port):
                return
            time.sleep(0.1)
        raise RuntimeError("confab did not listen on %d/%d within %ds:\n%s"
                           % (self.port, self.tls_port, timeout, self.tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)

    def create_account(self, style):
        out = subprocess.run(self.cmd + ["accounts", "create", "--data-dir", self.data_dir, "--style", style,
                                         "--json"], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError("confab accounts create --style %s failed (%d): %s%s"
                               % (style, out.returncode, out.stdout, out.stderr))
        for line in reversed(out.stdout.strip().splitlines()):
            line = line.strip()
            if line.startswith("{"):
                acct = json.loads(line)
                assert acct.get("sid") and acct.get("auth_token"), acct
                return {"sid": acct["sid"], "auth_token": acct["auth_token"], "style": style}
        raise RuntimeError("no JSON in `confab accounts create` output: %r" % out.stdout)


def count_junit(path):
    """(passed, failed, skipped) from a junit XML written by pytest or node --test. Expected failures
    (pytest xfail, node `todo`) count as skipped."""
    passed = failed = skipped = 0
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        tags = {child.tag for child in case}
        todo = any(child.tag == "skipped" and child.get("type") == "todo" for child in case)
        if todo:  # node --test `todo`: an expected failure (a known confab bug); it runs but does not fail the run
            skipped += 1
        elif tags & {"failure", "error"}:
            failed += 1
        elif "skipped" in tags:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def clean_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TWILIO_", "SIGNALWIRE_", "PYTEST_", "NODE_OPTIONS"))}
    return env


def run_suite(name, kind, target, config_path, timeout):
    junit = os.path.join(OUT, "junit-%s.xml" % name)
    if os.path.exists(junit):
        os.remove(junit)
    target = os.path.join(HERE, target)
    env = clean_env()
    env["CONFAB_CONFORMANCE_CONFIG"] = config_path
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if kind == "node":
        cmd = node_cmd(target, junit)
        env["NODE_PATH"] = NODE_MODULES
        # @signalwire/compatibility-api only honours NODE_EXTRA_CA_CERTS (read at node start-up);
        # this machine points it at the system bundle, so override it with our cert.
        env["NODE_EXTRA_CA_CERTS"] = CERT
    else:
        cmd = pytest_cmd(kind, target, junit)
        env["PYTHONPATH"] = os.path.join(HERE, "pylib")
    print("\n==== %s: %s" % (name, " ".join(map(shlex.quote, cmd))), flush=True)
    t0 = time.monotonic()
    try:
        rc = subprocess.run(cmd, env=env, cwd=HERE, timeout=timeout, stdin=subprocess.DEVNULL).returncode
    except subprocess.TimeoutExpired:
        print("!!!! %s timed out after %ds" % (name, timeout), flush=True)
        rc = -1
    elapsed = time.monotonic() - t0
    if os.path.exists(junit):
        passed, failed, skipped = count_junit(junit)
    else:
        passed, failed, skipped = 0, 0, 0
    if rc != 0 and failed == 0:
        failed = 1  # the runner failed without reporting a failing test (collection error, crash, timeout)
    return {"suite": name, "rc": rc, "passed": passed, "failed": failed, "skipped": skipped,
            "seconds": round(elapsed, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--confab", default=os.environ.get("CONFAB_BIN", os.path.join(ROOT, "target", "debug", "confab")),
                    help="confab binary or command (default target/debug/confab)")
    ap.add_argument("--only", action="append", help="run only these suites (repeatable)")
    ap.add_argument("--skip", action="append", default=[], help="skip these suites (repeatable)")
    ap.add_argument("--summary-json", help="write the totals here")
    ap.add_argument("--suite-timeout", type=int, default=900)
    args = ap.parse_args()

    os.makedirs(OUT, exist_ok=True)
    for p in (SPEC, VOICE_SPEC, CERT, KEY):
        if not os.path.exists(p):
            sys.exit("missing %s (run scripts/install-test-deps.sh; shared/ must sit beside the repo)" % p)
    cmd = shlex.split(args.confab)
    if not shutil.which(cmd[0]) and not os.path.exists(cmd[0]):
        sys.exit("confab binary not found: %s (cargo build -p confab)" % cmd[0])

    for stale in os.listdir(OUT):
        if stale.startswith(("config-", "junit-")) or stale == "schemathesis-stats.json":
            os.remove(os.path.join(OUT, stale))
    capture = os.path.join(OUT, "captures.jsonl")
    open(capture, "w").close()
    log_path = os.path.join(OUT, "server.log")
    open(log_path, "w").close()
    data_dir = tempfile.mkdtemp(prefix="confab-conformance-")
    server = Server(cmd, data_dir, log_path)
    results = []
    t_start = time.monotonic()
    try:
        server.start()
        print("confab listening on http://127.0.0.1:%d and https://127.0.0.1:%d (data %s)"
              % (server.port, server.tls_port, data_dir), flush=True)
        wanted = [s for s in SUITES + POST_SUITES
                  if (not args.only or s[0] in args.only) and s[0] not in args.skip]
        for name, kind, target in wanted:
            if not server.alive():
                print("!!!! confab is no longer running; restarting it. Log tail:\n" + server.tail(), flush=True)
                server.start()
            cfg = {
                "suite": name,
                "http_url": "http://127.0.0.1:%d" % server.port,
                "https_url": "https://127.0.0.1:%d" % server.tls_port,
                "ca_file": CERT,
                "capture_file": capture if name not in ("contract", "schemathesis") else None,
                "captures": capture,
                "spec": SPEC,
                "voice_spec": VOICE_SPEC,
                "confab": cmd,
                "data_dir": data_dir,
                "accounts": {"twilio": server.create_account("twilio"),
                             "signalwire": server.create_account("signalwire")},
                "out_dir": OUT,
            }
            config_path = os.path.join(OUT, "config-%s.json" % name)
            with open(config_path, "w") as f:
                json.dump(cfg, f, indent=1)
            results.append(run_suite(name, kind, target, config_path, args.suite_timeout))
            if not server.alive():
                print("!!!! confab died during %s (exit %s). Log tail:\n%s"
                      % (name, server.proc.returncode, server.tail()), flush=True)
                results[-1]["failed"] += 1
                results[-1]["server_died"] = True
    except Exception as e:  # server would not start, account creation failed, ...
        print("!!!! harness error: %s" % e, flush=True)
        results.append({"suite": "harness", "rc": 1, "passed": 0, "failed": 1, "skipped": 0, "seconds": 0,
                        "error": str(e)})
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

    total_p = sum(r["passed"] for r in results)
    total_f = sum(r["failed"] for r in results)
    total_s = sum(r["skipped"] for r in results)
    print("\n==== conformance summary (%.0fs)" % (time.monotonic() - t_start))
    for r in results:
        print("  %-20s %4d passed %4d failed %4d skipped  %6.1fs%s" % (
            r["suite"], r["passed"], r["failed"], r["skipped"], r["seconds"],
            "  (server died)" if r.get("server_died") else ""))
    stats_path = os.path.join(OUT, "schemathesis-stats.json")
    if any(r["suite"] == "schemathesis" for r in results) and os.path.exists(stats_path):
        with open(stats_path) as f:
            stats = json.load(f)
        print("  schemathesis ran %d generated cases (max %d examples per operation and phase; Calls %s, without "
              "the coverage phase) over %d method/path pairs"
              % (stats["cases"], stats["max_examples"], stats.get("calls_max_examples", "-"),
                 len(stats["per_operation"])))
    print("  artifacts: %s" % OUT)
    if args.summary_json:
        with open(args.summary_json, "w") as f:
            json.dump({"passed": total_p, "failed": total_f, "skipped": total_s, "suites": results}, f, indent=1)
    print("conformance: %d passed, %d failed" % (total_p, total_f), flush=True)
    return 0 if total_f == 0 and results else 1


if __name__ == "__main__":
    sys.exit(main())
