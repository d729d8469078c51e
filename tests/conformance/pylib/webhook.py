"""A small webhook receiver for the Calls and status-callback scenarios (stdlib only: imported
from every venv).

It listens on 127.0.0.1:0 in a thread, records every request confab makes to it (method, full
URL, headers, form body, query) and answers:

    /voice?room=NAME   <Response><Dial><Conference>NAME</Conference></Dial></Response>
    /pause             <Response><Pause length="120"/></Response>
    /status...         204 No Content (a status callback; Twilio ignores the body), or the
                       status given as `answer=CODE` in the query (e.g. 500), with a short body
    anything else      <Response><Hangup/></Response>

Status callbacks are told apart by a `tag` query parameter the scenario puts into each
callback URL (`url("/status/conf", tag=...)`): `tagged(tag)` / `wait_tagged(tag, ...)`.

Signatures are checked by the suites with the official validator of their client library
(twilio.request_validator.RequestValidator); `request_validator()` finds it.
"""
import glob
import importlib.util
import os
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def request_validator():
    """twilio's RequestValidator class. The venvs of signalwire-sdk 3.0.2 and of the raw-HTTP
    suite have no `twilio` package; there the official, unmodified module is loaded from the
    twilio-python 9 virtualenv (it imports only the standard library)."""
    try:
        from twilio.request_validator import RequestValidator
        return RequestValidator
    except ImportError:
        pass
    paths = glob.glob(os.path.join(ROOT, ".test-deps", "py-twilio9", "lib", "python3*", "site-packages",
                                   "twilio", "request_validator.py"))
    if not paths:
        raise RuntimeError("twilio.request_validator not found (run scripts/install-test-deps.sh)")
    spec = importlib.util.spec_from_file_location("twilio9_request_validator", paths[0])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.RequestValidator


def dial_conference(room):
    return "<Response><Dial><Conference>%s</Conference></Dial></Response>" % escape(room)


class HookRequest:
    def __init__(self, method, url, headers, form, query, body=""):
        self.method = method
        self.url = url            # the full URL as confab requested it (what it must have signed)
        self.headers = headers    # lower-case names
        self.form = form          # POST body parameters (flat dict)
        self.query = query        # query-string parameters (flat dict)
        self.body = body          # the raw body as text
        self.t = time.monotonic()

    @property
    def params(self):
        """Twilio's request parameters: the body for POST, the query string for GET."""
        return self.form if self.method == "POST" else self.query

    @property
    def signed_params(self):
        """What the signature covers besides the URL: the POST body (a GET is signed on its URL)."""
        return self.form if self.method == "POST" else {}

    @property
    def signature(self):
        return self.headers.get("x-twilio-signature")

    @property
    def idempotency_token(self):
        return self.headers.get("i-twilio-idempotency-token")

    @property
    def event(self):
        """What a status callback reports: `StatusCallbackEvent` (conference events) or, for call
        progress (which has none), `CallStatus`."""
        p = self.params
        return p.get("StatusCallbackEvent") or p.get("CallStatus")

    def __repr__(self):
        return "<%s %s %s>" % (self.method, self.url, self.params)


def _flat(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            out[k] = out[k] if isinstance(out[k], list) else [out[k]]
            out[k].append(v)
        else:
            out[k] = v
    return out


class WebhookReceiver:
    def __init__(self):
        self.requests = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
                split = urllib.parse.urlsplit(self.path)
                form = {}
                if self.command == "POST" and "x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
                    form = _flat(urllib.parse.parse_qsl(body, keep_blank_values=True))
                query = _flat(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
                req = HookRequest(self.command, receiver.base + self.path,
                                  {k.lower(): v for k, v in self.headers.items()}, form, query, body)
                with receiver._lock:
                    receiver.requests.append(req)
                if split.path.startswith("/status"):
                    code = int(query["answer"]) if str(query.get("answer", "")).isdigit() else 204
                    data = b"" if code == 204 else b"status %d from the test receiver" % code
                    self.send_response(code)
                    if code != 204:
                        self.send_header("Content-Type", "text/plain")
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if split.path == "/voice" and "room" in query:
                    twiml = dial_conference(query["room"])
                elif split.path == "/pause":
                    twiml = '<Response><Pause length="120"/></Response>'
                else:
                    twiml = "<Response><Hangup/></Response>"
                data = ('<?xml version="1.0" encoding="UTF-8"?>' + twiml).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)
        self.thread.start()

    def url(self, path="/voice", **query):
        return self.base + path + ("?" + urllib.parse.urlencode(query) if query else "")

    def for_call(self, call_sid):
        with self._lock:
            return [r for r in self.requests if r.params.get("CallSid") == call_sid]

    def wait_for_call(self, call_sid, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.for_call(call_sid)
            if got:
                return got[0]
            time.sleep(0.05)
        with self._lock:
            seen = list(self.requests)
        raise AssertionError("no webhook request for call %s within %.0fs (received: %r)" % (call_sid, timeout, seen))

    def tagged(self, tag):
        """The requests to a URL made with `url(..., tag=tag)`, in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.query.get("tag") == tag]

    def wait_tagged(self, tag, done, timeout=10.0, what=None):
        """Waits until `done(requests)` holds for `tagged(tag)`; returns those requests."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.tagged(tag)
            if done(got):
                return got
            if time.monotonic() > deadline:
                raise AssertionError("timed out after %.0fs waiting for %s (tag %s received: %r)"
                                     % (timeout, what or "callbacks", tag, [r.event for r in got]))
            time.sleep(0.02)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
