"""Status callbacks over raw HTTP (issue 10): the scripted conference of
pylib/status_callbacks_scenario.py sent as a README reader would send it with curl (event lists
space-separated, as one form value), then read back through confab's Callbacks resource
(`GET /confab/v1/Accounts/{AccountSid}/Callbacks`): what was sent, with which token, and what
the receiver answered. Also what the clients do not exercise: GET callbacks signed on their
URL, a receiver that fails, Twilio's connection overrides in the URL fragment (retries with one
token, the fragment outside the signature), and the resource's own errors."""
import pytest

from conformance_common import VARIANTS, VARIANT_IDS, is_rfc2822_gmt, unique, wait_until
from status_callbacks_scenario import (CALL_EVENTS, FROM, HANGUP, SCRIPTED_EVENTS, StatusCallbackScenario,
                                       assert_callback_headers, assert_signed, settled, twilio_validator)
from test_raw_http import CFG, Api, err

VALIDATORS = (("twilio.request_validator", twilio_validator),)
PASCAL = {"label": "Label", "beep": "Beep", "muted": "Muted", "hold": "Hold",
          "end_conference_on_exit": "EndConferenceOnExit", "status": "Status", "twiml": "Twiml",
          "status_callback": "StatusCallback", "status_callback_event": "StatusCallbackEvent",
          "status_callback_method": "StatusCallbackMethod",
          "conference_status_callback": "ConferenceStatusCallback",
          "conference_status_callback_event": "ConferenceStatusCallbackEvent",
          "conference_status_callback_method": "ConferenceStatusCallbackMethod"}
DELIVERY_KEYS = {"status", "attempts", "response_status", "error_code", "error_message", "date_finished"}
ENTRY_KEYS = {"account_sid", "source", "source_sid", "sequence_number", "event", "call_sid", "url", "method",
              "parameters", "idempotency_token", "date_created", "delivery"}


def form(kw):
    """Pascal-case form parameters; a conference event list goes as one space-separated value
    (what `curl -d ConferenceStatusCallbackEvent="start end ..."` sends), a call event list as
    repeated keys."""
    out = {}
    for k, v in kw.items():
        if k == "conference_status_callback_event":
            v = " ".join(v)
        out[PASCAL[k]] = v
    return out


class RawAdapter(Api):
    """The scenario's adapter calls as plain form POSTs; returns the JSON confab answered."""

    def __init__(self, acct, prefix):
        super().__init__(acct, prefix)
        self.account_sid = acct["sid"]

    def ok(self, r, status=(200, 201, 204)):
        assert r.status_code in status, (r.status_code, r.text)
        return r.json() if r.content else None

    def create_participant(self, conf, from_, to, **kw):
        return self.ok(self.req("POST", "Conferences/%s/Participants" % conf, data={"From": from_, "To": to, **form(kw)}))

    def update_participant(self, conf, ident, **kw):
        return self.ok(self.req("POST", "Conferences/%s/Participants/%s" % (conf, ident), data=form(kw)))

    def delete_participant(self, conf, ident):
        return self.ok(self.req("DELETE", "Conferences/%s/Participants/%s" % (conf, ident)), status=(204,))

    def update_conference(self, sid, **kw):
        return self.ok(self.req("POST", "Conferences/%s" % sid, data=form(kw)))

    def create_call(self, to, from_, **kw):
        return self.ok(self.req("POST", "Calls", data={"From": from_, "To": to, **form(kw)}), status=(201,))

    # ------------------------------------------------------------ confab's Callbacks resource
    def callbacks_url(self):
        return "%s/confab/v1/Accounts/%s/Callbacks" % (self.base, self.account_sid)

    def callbacks_page(self, **params):
        r = self.s.get(self.callbacks_url(), params=params, timeout=30)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("application/json")
        return r.json()

    def callbacks(self, page_size=50, **filters):
        """Every listed callback, newest first, following next_page_uri."""
        page = self.callbacks_page(PageSize=page_size, **filters)
        out, n = list(page["callbacks"]), 1
        while page["next_page_uri"]:
            assert page["next_page_uri"].startswith("/confab/v1/Accounts/%s/Callbacks?" % self.account_sid)
            r = self.s.get(self.base + page["next_page_uri"], timeout=30)
            assert r.status_code == 200, r.text
            page = r.json()
            out += page["callbacks"]
            n += 1
            assert n < 20, "paging does not terminate"
        return out

    def finished_callbacks(self, n, **filters):
        """The listed callbacks once `n` are listed and none is pending (the outcome is written
        after the receiver answered)."""
        return wait_until(lambda: (lambda cs: cs if len(cs) >= n and all(
            c["delivery"]["status"] != "pending" for c in cs) else None)(self.callbacks(**filters)),
            timeout=10, what="%d finished callbacks for %r" % (n, filters))


def make_adapter(cfg, acct, prefix, variant):
    return RawAdapter(acct, prefix)


def assert_entry(entry, req, acct_sid, source, source_sid, answered):
    """One Callbacks entry against the request the receiver got."""
    assert set(entry) == ENTRY_KEYS, sorted(set(entry) ^ ENTRY_KEYS)
    assert set(entry["delivery"]) == DELIVERY_KEYS, entry["delivery"]
    assert entry["account_sid"] == acct_sid
    assert (entry["source"], entry["source_sid"]) == (source, source_sid), entry
    assert entry["sequence_number"] == int(req.params["SequenceNumber"])
    progress = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}
    assert entry["event"] == (req.params["StatusCallbackEvent"] if source == "conference"
                              else progress.get(req.params["CallStatus"], "completed")), (entry["event"], req.params)
    assert entry["call_sid"] == req.params.get("CallSid")
    assert entry["method"] == req.method
    assert entry["parameters"] == req.params, (entry["parameters"], req.params)
    assert entry["idempotency_token"] == req.idempotency_token
    assert is_rfc2822_gmt(entry["date_created"]), entry["date_created"]
    d = entry["delivery"]
    assert (d["status"], d["attempts"], d["response_status"]) == (
        "delivered" if answered < 300 else "failed", 1, answered), d
    assert is_rfc2822_gmt(d["date_finished"]), d


class TestRawStatusCallbacks(StatusCallbackScenario):
    make_adapter = staticmethod(make_adapter)
    validators = VALIDATORS

    def test_scripted_conference_events(self, v, hooks):
        run = self.scripted_conference(v, hooks)
        a = v.a
        # everything the conference sent, newest first, across pages of 4
        listed = a.finished_callbacks(len(SCRIPTED_EVENTS), ConferenceSid=run.cf)
        assert len(a.callbacks(page_size=4, ConferenceSid=run.cf)) == len(listed)
        assert [c["sequence_number"] for c in listed] == list(range(len(SCRIPTED_EVENTS), 0, -1))
        for entry, req in zip(reversed(listed), run.conference):
            assert_entry(entry, req, v.account_sid, "conference", run.cf, answered=204)
            assert entry["url"] == run.url
        # CallSid: the conference events about bob and his own call's progress
        bob = run.sids["bob"]
        about_bob = a.finished_callbacks(8, CallSid=bob)
        assert sorted((c["source"], c["event"]) for c in about_bob) == sorted(
            [("conference", e) for e, who, _ in SCRIPTED_EVENTS if who == "bob"]
            + [("call", e) for e in CALL_EVENTS]), about_bob
        progress = sorted((c for c in about_bob if c["source"] == "call"), key=lambda c: c["sequence_number"])
        for entry, req in zip(progress, run.calls["bob"]):
            assert_entry(entry, req, v.account_sid, "call", bob, answered=204)
        assert len(a.callbacks(Status="delivered", ConferenceSid=run.cf)) == len(SCRIPTED_EVENTS)
        assert a.callbacks(Status="failed", ConferenceSid=run.cf) == []
        assert a.callbacks(Status="pending", ConferenceSid=run.cf) == []


# ---------------------------------------------------------------- what the clients do not exercise
@pytest.fixture(scope="module", params=VARIANTS[:2], ids=VARIANT_IDS[:2])
def raw(request):
    _, style, prefix = request.param
    return RawAdapter(CFG["accounts"][style], prefix)


@pytest.fixture(scope="module")
def hooks():
    from webhook import WebhookReceiver
    r = WebhookReceiver()
    yield r
    r.close()


def test_get_callbacks_are_signed_on_their_url(raw, hooks):
    """StatusCallbackMethod / ConferenceStatusCallbackMethod GET: the parameters ride in the query
    (after the URL's own), and the signature covers that whole URL with no parameters."""
    conf_tag, call_tag = unique("getconf"), unique("getcall")
    p = raw.create_participant(unique("getroom"), FROM, "sim:" + unique("g"), beep="false",
                               conference_status_callback=hooks.url("/status/conf", tag=conf_tag),
                               conference_status_callback_event=["join", "leave"],
                               conference_status_callback_method="GET",
                               status_callback=hooks.url("/status/call", tag=call_tag),
                               status_callback_event=CALL_EVENTS, status_callback_method="GET")
    hooks.wait_tagged(conf_tag, lambda rs: len(rs) >= 1, what="participant-join")
    raw.delete_participant(p["conference_sid"], p["call_sid"])
    conf = settled(hooks, conf_tag, 2, "join and leave")
    assert [r.event for r in conf] == ["participant-join", "participant-leave"]
    calls = settled(hooks, call_tag, 4, "call progress")
    assert [r.params["CallStatus"] for r in calls] == ["initiated", "ringing", "in-progress", "completed"]
    for r in conf + calls:
        assert r.method == "GET" and r.form == {} and r.body == "", r
        assert r.url.startswith(hooks.url("/status/")) and "?tag=" in r.url
        assert r.params["SequenceNumber"] and r.params["AccountSid"] == raw.account_sid
        assert_callback_headers(r)
        assert_signed(VALIDATORS, raw.acct["auth_token"], r)
    listed = raw.finished_callbacks(2, ConferenceSid=p["conference_sid"])
    assert {c["method"] for c in listed} == {"GET"}


def test_failed_receiver_and_retry_overrides(raw, hooks):
    """A receiver answering 500 is listed as failed with its status; by default a 5xx is not
    retried (Twilio retries only a failed connect), `#rc=2&rp=5xx` retries it twice with one
    token. The fragment is not part of what is signed. Also: no events means `completed`."""
    for frag, attempts in (("", 1), ("#rc=2&rp=5xx", 3)):
        tag = unique("fail")
        url = hooks.url("/status/fail", tag=tag, answer=500)
        call = raw.create_call("sim:" + unique("f"), FROM, twiml=HANGUP, status_callback=url + frag)
        reqs = settled(hooks, tag, attempts, "%d attempts" % attempts)
        assert len(reqs) == attempts, [r.params for r in reqs]
        assert len({r.idempotency_token for r in reqs}) == 1, "one token across retries"
        assert [r.params["CallStatus"] for r in reqs] == ["completed"] * attempts  # the default event set
        for r in reqs:
            assert r.url == url  # the receiver never sees the fragment
            assert_signed(VALIDATORS, raw.acct["auth_token"], r)
        [entry] = raw.finished_callbacks(1, CallSid=call["sid"])
        assert entry["url"] == url + frag and entry["event"] == "completed"
        d = entry["delivery"]
        assert (d["status"], d["attempts"], d["response_status"]) == ("failed", attempts, 500), d
        assert d["error_code"] and d["error_message"], d
        assert entry["idempotency_token"] == reqs[0].idempotency_token
        assert raw.callbacks(CallSid=call["sid"], Status="failed") == [entry]


def test_callbacks_resource_errors(raw):
    url = raw.callbacks_url()
    assert err(raw.s.get(url, params={"Status": "bogus"}, timeout=30))[0] == 400
    assert err(raw.s.get(url, params={"ConferenceSid": "nope"}, timeout=30))[0] == 400
    assert err(raw.s.post(url, data={}, timeout=30))[0] == 405
    anon = raw.s.get(url, auth=(raw.account_sid, "0" * 32), timeout=30)
    assert err(anon) == (401, 20003)
