"""The README's "Step by step: two softphones in a conference", run as a new user would.

Every command and snippet comes from README.md's marked blocks (readme_walkthrough.py): confab is
started with the README's `serve` command (on free ports, a temporary data directory), the account
is read from what its first start prints, the TwiML is served by the README's own `http.server`
block, the number and the simulated caller are created by the README's twilio-python block, the two
baresips are made by its `phone` block and started by its `dial` and `answer` commands, and mute,
hold, resume and the `sip:` participant are its Python blocks. The test only watches: it polls the
API, the phones' recordings (phone_audio.Recording, a Goertzel per 100 ms window) and carol's
`Heard.json`. Tests run in file order and each needs the one before it.

Runs in the py-twilio9 virtualenv (tests/conformance/run.py suite `sip-walkthrough`); by hand:
    CONFAB_BIN=target/debug/confab .test-deps/py-twilio9/bin/python -m pytest tests/conformance/suites/sip_walkthrough
"""
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from phone_audio import ALICE_HZ, BOB_HZ, CAROL_HZ, Recording, heard_picture, heard_windows, windows_with
from readme_walkthrough import ROOT, Adjust, steps

NUMBER = "+15550100199"
ROOM = "my-room"
# Generous for a loaded 2-core machine; every wait polls and returns as soon as it holds.
WAIT = 25.0
POLL = 0.2


def bindable(port, kind):
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port(taken, tls_next=False):
    """A port free for TCP and UDP (SIP takes both); `tls_next` also wants the next one free for
    TCP, where baresip listens for SIP over TLS."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        wanted = {port, port + 1} if tls_next else {port}
        if wanted & taken or not bindable(port, socket.SOCK_DGRAM):
            continue
        if tls_next and not bindable(port + 1, socket.SOCK_STREAM):
            continue
        taken |= wanted
        return port


def wait_for(what, check, timeout=WAIT, detail=lambda: ""):
    """Polls `check()` until it returns something truthy, which it returns; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail("%s: not within %.0f s\n%s" % (what, timeout, detail()))
        time.sleep(POLL)


def harness_config():
    path = os.environ.get("CONFAB_CONFORMANCE_CONFIG")
    if path:
        with open(path) as f:
            cfg = json.load(f)
    else:
        binary = os.environ.get("CONFAB_BIN", os.path.join(ROOT, "target", "debug", "confab"))
        cfg = {"confab": shlex.split(binary), "out_dir": os.path.join(ROOT, "target", "conformance")}
    # The README's shell blocks run in the walkthrough's home directory: a relative binary would be lost.
    if os.sep in cfg["confab"][0]:
        cfg["confab"] = [os.path.abspath(cfg["confab"][0])] + cfg["confab"][1:]
    return cfg


def capture_responses(path):
    """Records every response twilio-python hands the README's code, for the harness's contract
    check (the README builds its own Client, so the library's HTTP client is wrapped in place)."""
    from conformance_common import Capture

    capture = Capture(path, "sip-walkthrough")
    request = TwilioHttpClient.request

    def recording(self, method, url, params=None, *args, **kwargs):
        resp = request(self, method, url, params, *args, **kwargs)
        full = url + ("?" + urllib.parse.urlencode(params, doseq=True) if params else "")
        capture.record(method, full, resp.status_code, resp.text, "twilio")
        return resp

    TwilioHttpClient.request = recording


class Walk:
    """The walkthrough's processes, directories and what the steps found so far."""

    def __init__(self, cfg):
        self.cfg = cfg
        if cfg.get("capture_file"):
            capture_responses(cfg["capture_file"])
        self.steps = steps()
        self.tmp = tempfile.mkdtemp(prefix="confab-sip-walkthrough-")
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)
        self.logs = os.path.join(cfg["out_dir"], "sip-walkthrough")
        shutil.rmtree(self.logs, ignore_errors=True)
        os.makedirs(self.logs)
        taken = set()
        self.ports = {what: free_port(taken, tls_next=what in ("alice", "bob"))
                      for what in ("http", "sip", "web", "alice", "bob")}
        self.adjust = Adjust(self.ports)
        self.http_url = "http://127.0.0.1:%d" % self.ports["http"]
        self.procs = {}
        self.done = set()
        self.namespace = {}  # the README's Python blocks share it, as one interpreter session would
        self.sid = self.token = self.client = None
        self.alice_call = self.carol_call = self.room = None
        self.alice = Recording(os.path.join(self.home, "alice"))
        self.bob = Recording(os.path.join(self.home, "bob"))

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CONFAB_", "TWILIO_"))}
        env["HOME"] = self.home
        return env

    def start(self, name, script):
        """Runs a long-lived README shell block in the background, its output in the logs."""
        log = open(os.path.join(self.logs, name + ".log"), "wb")
        log.write(("$ %s\n" % script).encode())
        log.flush()
        self.procs[name] = (subprocess.Popen(["bash", "-e", "-c", script], cwd=self.home, env=self.env(),
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True), log)

    def run(self, name, script):
        """Runs a short README shell block to its end; fails with its output if it fails."""
        out = subprocess.run(["bash", "-e", "-c", script], cwd=self.home, env=self.env(), stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=60)
        with open(os.path.join(self.logs, name + ".log"), "w") as f:
            f.write("$ %s\n%s%s" % (script, out.stdout, out.stderr))
        assert out.returncode == 0, "%s failed (%d):\n%s%s" % (name, out.returncode, out.stdout, out.stderr)

    def log(self, name, lines=60):
        try:
            with open(os.path.join(self.logs, name + ".log"), "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        # baresip prints a status line many times a second: keep what says something.
        kept = [l for l in text.splitlines() if not re.match(r"^\s*\[\d+:\d\d:\d\d\] audio=", l)]
        return "---- %s.log (tail)\n%s" % (name, "\n".join(kept[-lines:]))

    def alive(self, name):
        return name in self.procs and self.procs[name][0].poll() is None

    def python(self, name, source=None):
        """Runs a README Python block in the shared namespace."""
        step = self.steps[name]
        code = compile(source if source is not None else self.adjust.ports_in(step.body), step.where(), "exec")
        exec(code, self.namespace)

    def heard(self, call_sid):
        return heard_windows(self.http_url, self.sid, self.token, call_sid)

    def stop(self):
        for proc, log in reversed(list(self.procs.values())):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    proc.wait(timeout=10)
            log.close()
        # What the phones heard stays beside the logs, for a failure's post-mortem.
        for phone in (self.alice, self.bob):
            if phone.path():
                shutil.copy(phone.path(), os.path.join(self.logs, os.path.basename(phone.directory) + "-heard.wav"))
        shutil.rmtree(self.tmp, ignore_errors=True)

    def need(self, step):
        if step not in self.done:
            pytest.fail("an earlier step of the walkthrough (%s) did not work" % step)


@pytest.fixture(scope="module")
def walk():
    if not shutil.which("baresip"):
        pytest.fail("baresip is not installed: run scripts/install-test-deps.sh (Debian baresip-core)")
    w = Walk(harness_config())
    yield w
    w.stop()


def test_readme_marks_every_step():
    found = steps()
    assert "answermode=$ANSWER" in found["phone"].body, "the phone block sets the answer mode from ANSWER"


def test_confab_starts_with_sip_and_prints_its_account(walk):
    serve = walk.steps["serve"]
    walk.start("serve", walk.adjust.serve(serve, walk.cfg["confab"], os.path.join(walk.tmp, "data")))

    def ready():
        log = walk.log("serve", 200)
        if not walk.alive("serve"):
            pytest.fail("confab exited at start:\n" + log)
        return "confab listening on" in log and "SIP on" in log and log

    log = wait_for("confab listening", ready, detail=lambda: walk.log("serve"))
    sid = re.search(r"Account SID:\s+(\S+)", log)
    token = re.search(r"Auth token:\s+(\S+)", log)
    assert sid and token, "the first start prints the account (README \"First start\"):\n" + log
    walk.sid, walk.token = sid.group(1), token.group(1)
    walk.client = Client(walk.sid, walk.token)
    walk.client.api.base_url = walk.http_url
    walk.done.add("serve")


def test_twiml_is_served(walk):
    walk.need("serve")
    walk.start("twiml", walk.adjust.ports_in(walk.steps["twiml"].body))
    url = "http://127.0.0.1:%d/voice.xml" % walk.ports["web"]

    def served():
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.read().decode()
        except OSError:
            return None

    body = wait_for("the TwiML at " + url, served, detail=lambda: walk.log("twiml"))
    assert "<Conference>%s</Conference>" % ROOM in body, body
    walk.done.add("twiml")


def test_number_created_with_twilio_python(walk):
    walk.need("twiml")
    walk.python("number", walk.adjust.account(walk.steps["number"], walk.sid, walk.token))
    numbers = walk.client.incoming_phone_numbers.list(phone_number=NUMBER)
    assert [n.phone_number for n in numbers] == [NUMBER]
    assert numbers[0].voice_url == "http://127.0.0.1:%d/voice.xml" % walk.ports["web"]
    assert numbers[0].voice_method == "GET"

    def carol_connected():
        # Alone, carol waits in a conference that is not in progress yet (`init`), as on Twilio.
        rooms = [c for c in walk.client.conferences.list(friendly_name=ROOM) if c.status != "completed"]
        if not rooms:
            return None
        for p in walk.client.conferences(rooms[0].sid).participants.list():
            if p.label == "carol" and p.status == "connected":
                return rooms[0], p.call_sid
        return None

    walk.room, walk.carol_call = wait_for("carol in " + ROOM, carol_connected)
    walk.done.add("number")


def test_phone_call_answered_into_the_conference(walk):
    walk.need("number")
    walk.run("phone-alice", walk.adjust.phone(walk.steps["phone"], "alice"))
    walk.run("phone-bob", walk.adjust.phone(walk.steps["phone"], "bob"))
    for phone in ("alice", "bob"):
        config = open(os.path.join(walk.home, phone, "config")).read()
        assert "sip_listen 127.0.0.1:%d" % walk.ports[phone] in config, config
    walk.start("dial", walk.adjust.ports_in(walk.steps["dial"].body))

    def answered():
        for call in walk.client.calls.list(to=NUMBER, status="in-progress"):
            members = walk.client.conferences(walk.room.sid).participants.list()
            if any(p.call_sid == call.sid and p.status == "connected" for p in members):
                return call
        return None

    call = wait_for("alice's call in " + ROOM, answered, detail=lambda: walk.log("dial") + "\n" + walk.log("serve"))
    assert call.direction == "inbound"
    assert call._from == "sip:alice@127.0.0.1:%d" % walk.ports["alice"], call._from
    walk.alice_call = call.sid
    walk.done.add("dial")


def test_phone_hears_the_simulated_caller_and_is_heard(walk):
    walk.need("dial")
    wait_for("alice hearing carol's %d Hz" % CAROL_HZ,
             lambda: sum(w.has(CAROL_HZ) for w in walk.alice.poll()) >= 10,
             detail=lambda: walk.alice.picture() + "\n" + walk.log("dial"))
    wait_for("carol hearing alice's %d Hz" % ALICE_HZ,
             lambda: len(windows_with(walk.heard(walk.carol_call)[1], ALICE_HZ)) >= 10,
             detail=lambda: heard_picture(walk.heard(walk.carol_call)[1]))
    walk.done.add("heard")


def carol_silent_for_alice(walk, what, span_ms=2000, settle_ms=500):
    """After an update, carol's Heard.json has `span_ms` without alice's tone."""
    mark = walk.heard(walk.carol_call)[0]
    wait_for("carol's recording to go on", lambda: walk.heard(walk.carol_call)[0] >= mark + settle_ms + span_ms)
    windows = walk.heard(walk.carol_call)[1]
    leaked = windows_with(windows, ALICE_HZ, mark + settle_ms, mark + settle_ms + span_ms)
    assert not leaked, "carol still heard alice %s:\n%s" % (what, heard_picture(windows, mark - 1000))


def test_muted_phone_is_not_heard_and_still_hears(walk):
    walk.need("heard")
    start = len(walk.alice.poll())
    walk.python("mute")
    assert walk.namespace["alice"].sid == walk.alice_call, "the README's mute block found alice's call"
    p = walk.client.conferences(walk.room.sid).participants(walk.alice_call).fetch()
    assert p.muted is True and p.hold is False
    carol_silent_for_alice(walk, "while muted")
    assert sum(w.has(CAROL_HZ) for w in walk.alice.poll()[start:]) >= 10, \
        "a muted alice no longer heard carol:\n" + walk.alice.picture(start)
    walk.done.add("mute")


def test_held_phone_hears_hold_music_instead(walk):
    walk.need("mute")
    start = len(walk.alice.poll())
    walk.python("hold")
    p = walk.client.conferences(walk.room.sid).participants(walk.alice_call).fetch()
    assert p.hold is True and p.muted is False

    def hold_music():
        ws = walk.alice.poll()[start:]
        first = next((i for i, w in enumerate(ws) if w.hold_music()), None)
        return first is not None and sum(w.hold_music() for w in ws[first:]) >= 15 and (start + first,)

    (first,) = wait_for("alice hearing hold music", hold_music, detail=lambda: walk.alice.picture(start))
    after = walk.alice.windows[first:]
    carol = sum(w.has(CAROL_HZ, 0.3) for w in after)
    assert carol <= len(after) // 10, "a held alice still heard carol:\n" + walk.alice.picture(start)
    carol_silent_for_alice(walk, "while held", span_ms=1000)
    walk.done.add("hold")


def test_resumed_phone_hears_and_is_heard_again(walk):
    walk.need("hold")
    start = len(walk.alice.poll())
    mark = walk.heard(walk.carol_call)[0]
    walk.python("resume")
    p = walk.client.conferences(walk.room.sid).participants(walk.alice_call).fetch()
    assert p.hold is False and p.muted is False
    wait_for("alice hearing carol again", lambda: sum(w.has(CAROL_HZ) for w in walk.alice.poll()[start:]) >= 10,
             detail=lambda: walk.alice.picture(start))
    wait_for("carol hearing alice again",
             lambda: len(windows_with(walk.heard(walk.carol_call)[1], ALICE_HZ, mark)) >= 5,
             detail=lambda: heard_picture(walk.heard(walk.carol_call)[1], mark - 1000))
    walk.done.add("resume")


def test_auto_answer_phone_added_as_sip_participant(walk):
    walk.need("resume")
    walk.start("answer", walk.adjust.ports_in(walk.steps["answer"].body))
    wait_for("bob's baresip ready", lambda: "baresip is ready" in walk.log("answer", 400) or not walk.alive("answer"),
             detail=lambda: walk.log("answer"))
    assert walk.alive("answer"), walk.log("answer")
    mark = walk.heard(walk.carol_call)[0]
    walk.python("add")
    bob = walk.namespace["bob"]
    assert bob.call_sid and bob.label == "bob"

    def answered():
        status = walk.client.calls(bob.call_sid).fetch().status
        if status in ("busy", "failed", "no-answer", "canceled", "completed"):
            pytest.fail("bob's call ended %s:\n%s\n%s" % (status, walk.log("answer"), walk.log("serve")))
        return status == "in-progress"

    wait_for("bob answering", answered, detail=lambda: walk.log("answer"))
    call = walk.client.calls(bob.call_sid).fetch()
    assert call.to == "sip:bob@127.0.0.1:%d" % walk.ports["bob"] and call.direction == "outbound-api"
    members = {p.call_sid: p for p in walk.client.conferences(walk.room.sid).participants.list()}
    assert bob.call_sid in members and members[bob.call_sid].status == "connected"
    # bob hears carol (mixed with alice) and carol hears bob.
    wait_for("bob hearing carol", lambda: sum(w.has(CAROL_HZ, 0.2) for w in walk.bob.poll()) >= 10,
             detail=lambda: walk.bob.picture() + "\n" + walk.log("answer"))
    wait_for("carol hearing bob's %d Hz" % BOB_HZ,
             lambda: len(windows_with(walk.heard(walk.carol_call)[1], BOB_HZ, mark)) >= 5,
             detail=lambda: heard_picture(walk.heard(walk.carol_call)[1], mark))
    walk.done.add("add")
