"""Helpers shared by the Python client suites (stdlib only: it is imported from three
different virtualenvs, each with its own client library).

The harness (tests/conformance/run.py) writes a JSON config and points
CONFAB_CONFORMANCE_CONFIG at it; see `load_config`.
"""
import json
import os
import re
import secrets
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import base64
from email.utils import parsedate_to_datetime

TWILIO_PREFIX = "2010-04-01"
LAML_PREFIX = "api/laml/2010-04-01"

# (variant id, account style, path prefix). Every suite runs its scenario in all four.
VARIANTS = [
    ("twilio-acct-twilio-prefix", "twilio", TWILIO_PREFIX),
    ("uuid-acct-twilio-prefix", "signalwire", TWILIO_PREFIX),
    ("twilio-acct-laml-prefix", "twilio", LAML_PREFIX),
    ("uuid-acct-laml-prefix", "signalwire", LAML_PREFIX),
]
VARIANT_IDS = [v[0] for v in VARIANTS]

SID_RE = {p: re.compile(r"^%s[0-9a-f]{32}$" % p) for p in ("AC", "CF", "CA")}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RFC2822_GMT_RE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d{2}:\d{2}:\d{2} \+0000$")

_lock = threading.Lock()


def load_config():
    path = os.environ.get("CONFAB_CONFORMANCE_CONFIG")
    if not path:
        raise RuntimeError("CONFAB_CONFORMANCE_CONFIG is not set: run tests/conformance/run.py")
    with open(path) as f:
        return json.load(f)


def unique(name):
    return "%s-%s" % (name, secrets.token_hex(4))


def sid_matches(style, prefix, value):
    """Does `value` look like a SID the account style mints (CF/CA/AC or UUID)?"""
    if value is None:
        return False
    if style == "twilio":
        return bool(SID_RE[prefix].match(value))
    return bool(UUID_RE.match(value))


def unknown_sid(style, prefix):
    if style == "twilio":
        return prefix + secrets.token_hex(16)
    h = secrets.token_hex(16)
    return "%s-%s-4%s-8%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:32])


def expected_status(prefix, twilio_status):
    """Participant status as each dialect spells it (signalwire-laml.md)."""
    if prefix == LAML_PREFIX:
        return "completed" if twilio_status in ("complete", "failed") else "in-progress"
    return twilio_status


def participant_uri(prefix, account_sid, conference_sid, call_sid):
    return "/%s/Accounts/%s/Conferences/%s/Participants/%s.json" % (prefix, account_sid, conference_sid, call_sid)


def conference_uri(prefix, account_sid, conference_sid):
    return "/%s/Accounts/%s/Conferences/%s.json" % (prefix, account_sid, conference_sid)


def quote_label(label):
    """Twilio: 'Non URL safe characters in a label must be percent encoded'."""
    return urllib.parse.quote(label, safe="")


def is_rfc2822_gmt(value):
    return isinstance(value, str) and bool(RFC2822_GMT_RE.match(value)) and parsedate_to_datetime(value) is not None


class Capture:
    """Appends every response a client saw to the capture file (JSON lines) for the contract check."""

    def __init__(self, path, suite):
        self.path = path
        self.suite = suite

    def record(self, method, url, status, body, variant=None):
        if not self.path:
            return
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        line = json.dumps({"suite": self.suite, "variant": variant, "method": method.upper(), "url": url,
                           "status": int(status), "body": body})
        with _lock, open(self.path, "a") as f:
            f.write(line + "\n")


def raw_request(method, url, account_sid, token, data=None, ca_file=None, capture=None, json_body=False):
    """Plain HTTP(S) request with Basic auth (used for setup the client under test cannot do).
    Returns (status, parsed JSON or None, text)."""
    body = None
    headers = {"Accept": "application/json",
               "Authorization": "Basic " + base64.b64encode(("%s:%s" % (account_sid, token)).encode()).decode()}
    if data is not None:
        if json_body:
            body = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        else:
            body = urllib.parse.urlencode(data, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    ctx = None
    if url.startswith("https"):
        ctx = ssl.create_default_context(cafile=ca_file)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    if capture:
        capture.record(method, url, status, text)
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    return status, parsed, text


def wait_until(fn, timeout=10.0, interval=0.05, what="condition"):
    """Polls fn() until it returns a truthy value; returns it. Raises AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s (last=%r)" % (timeout, what, last))
