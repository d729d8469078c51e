"""Raw HTTP checks of the Calls resource and the voice webhooks: what the official clients cannot
send or do not look at (paths without .json, wrong methods, JSON bodies, every list filter, the
whole webhook parameter set, status and fallback callbacks, sim outcomes).

Expectations follow Twilio's Call resource documentation and its OpenAPI file
(spec/twilio_api_v2010_voice.json). Every response is captured for the contract check."""
import time
import urllib.parse

import pytest

from conformance_common import LAML_PREFIX, TWILIO_PREFIX, sid_matches, unique, unknown_sid, wait_until
from test_raw_http import CAP, CFG, FROM, PREFIXES, Api, err
from webhook import WebhookReceiver, dial_conference, request_validator

HANGUP = "<Response><Hangup/></Response>"
# Twilio's standard voice request parameters (every voice webhook)
STANDARD_PARAMS = ("CallSid", "AccountSid", "From", "To", "CallStatus", "ApiVersion", "Direction", "ForwardedFrom",
                   "CallerName", "ParentCallSid", "Caller", "Called")


def invalid(api):
    """HTTP status of a 21xxx validation error: Twilio 400; the LaML dialect answers 422 (DESIGN.md)."""
    return (400,) if api.prefix == TWILIO_PREFIX else (400, 422)


class CallsApi(Api):
    def create_call(self, to, expect=201, **extra):
        r = self.req("POST", "Calls", data={"From": FROM, "To": to, **extra})
        assert r.status_code == expect, r.text
        return r.json()

    def call(self, sid):
        r = self.req("GET", "Calls/%s" % sid)
        assert r.status_code == 200, r.text
        return r.json()

    def update_call(self, sid, **data):
        return self.req("POST", "Calls/%s" % sid, data=data)

    def list_calls(self, **params):
        r = self.req("GET", "Calls", params=params)
        assert r.status_code == 200, r.text
        return r.json()

    def sids(self, **params):
        return [c["sid"] for c in self.list_calls(**params)["calls"]]

    def wait_status(self, sid, *statuses, timeout=10):
        return wait_until(lambda: (lambda c: c if c["status"] in statuses else None)(self.call(sid)),
                          timeout=timeout, what="call %s to be %s" % (sid, "/".join(statuses)))

    def in_room(self, room):
        out = {}
        for conf in self.req("GET", "Conferences", params={"FriendlyName": room}).json()["conferences"]:
            if conf["status"] != "completed":
                r = self.req("GET", "Conferences/%s/Participants" % conf["sid"])
                out.update({p["call_sid"]: p["status"] for p in r.json()["participants"]})
        return out

    def wait_in_room(self, room, sid):
        want = "connected" if self.prefix == TWILIO_PREFIX else "in-progress"
        return wait_until(lambda: self.in_room(room).get(sid) == want, what="%s in %s" % (sid, room))

    def live_call(self, **extra):
        room = unique("rawroom")
        c = self.create_call("sim:" + unique("live"), Twiml=dial_conference(room), **extra)
        self.wait_in_room(room, c["sid"])
        return c, room

    def ended_call(self):
        c = self.create_call("sim:" + unique("ended"), Twiml=HANGUP)
        return self.wait_status(c["sid"], "completed")

    def hangup(self, sid):
        self.update_call(sid, Status="completed")


@pytest.fixture(scope="module", params=PREFIXES, ids=["twilio-prefix", "laml-prefix"])
def api(request):
    return CallsApi(CFG["accounts"]["twilio"], request.param)


@pytest.fixture(scope="module")
def uuid_api(api):
    return CallsApi(CFG["accounts"]["signalwire"], api.prefix)


@pytest.fixture(scope="module")
def hooks():
    r = WebhookReceiver()
    yield r
    r.close()


def assert_signed(acct, req):
    v = request_validator()
    assert req.signature, "no X-Twilio-Signature on %r" % req
    assert v(acct["auth_token"]).validate(req.url, req.signed_params, req.signature) is True, \
        "X-Twilio-Signature does not validate: %s %s %r" % (req.method, req.url, req.signed_params)
    assert v("0" * 32).validate(req.url, req.signed_params, req.signature) is False


# ---------------------------------------------------------------- create
def test_create_response(api):
    to = "sim:" + unique("create")
    r = api.req("POST", "Calls", data={"From": FROM, "To": to, "Twiml": HANGUP})
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    c = r.json()
    assert sid_matches("twilio", "CA", c["sid"])
    assert c["status"] == "queued"
    assert (c["to"], c["from"], c["direction"], c["api_version"]) == (to, FROM, "outbound-api", "2010-04-01")
    assert c["uri"] == "/%s/Accounts/%s/Calls/%s.json" % (api.prefix, api.acct["sid"], c["sid"])
    assert c["parent_call_sid"] is None
    assert c["end_time"] is None
    assert isinstance(c["subresource_uris"], dict)
    for k, v in c["subresource_uris"].items():
        assert v.startswith("/%s/Accounts/%s/Calls/%s/" % (api.prefix, api.acct["sid"], c["sid"])), (k, v)


def test_uuid_account_call_sids(uuid_api):
    c = uuid_api.create_call("sim:" + unique("uuid"), Twiml=HANGUP)
    assert sid_matches("signalwire", "CA", c["sid"]) and c["account_sid"] == uuid_api.acct["sid"]
    assert uuid_api.call(c["sid"])["sid"] == c["sid"]


def test_create_json_body(api):
    to = "sim:" + unique("json")
    r = api.req("POST", "Calls", json={"From": FROM, "To": to, "Twiml": HANGUP})
    assert r.status_code == 201, r.text
    assert r.json()["to"] == to


def test_create_without_url_or_twiml_21205(api):
    status, code = err(api.req("POST", "Calls", data={"From": FROM, "To": "sim:x"}))
    assert code == 21205
    assert status == 400 if api.prefix == TWILIO_PREFIX else status in (400, 422)


def test_create_requires_to_and_from(api):
    status, code = err(api.req("POST", "Calls", data={"From": FROM, "Twiml": HANGUP}))
    assert status in (400, 422) and code == 21201  # "No 'To' number is specified"
    status, code = err(api.req("POST", "Calls", data={"To": "sim:x", "Twiml": HANGUP}))
    assert status in (400, 422) and code == 21213  # "No 'From' number is specified"


def test_create_rejects_bad_method(api):
    r = api.req("POST", "Calls", data={"From": FROM, "To": "sim:x", "Url": "http://127.0.0.1:9/x", "Method": "PUT"})
    assert 400 <= err(r)[0] < 500


def test_create_accepts_optional_parameters(api):
    c = api.create_call("sim:" + unique("opts"), Twiml=HANGUP, Timeout="15", SendDigits="1234#",
                        StatusCallback="http://127.0.0.1:9/cb", StatusCallbackMethod="GET",
                        StatusCallbackEvent=["initiated", "ringing", "answered", "completed"],
                        FallbackUrl="http://127.0.0.1:9/fb", FallbackMethod="GET")
    api.wait_status(c["sid"], "completed")


# ---------------------------------------------------------------- routing and methods
def test_paths_without_json_suffix(api):
    c, _ = api.live_call()
    for tail in ("Calls", "Calls/%s" % c["sid"]):
        r = api.req("GET", tail, json_suffix=False)
        assert r.status_code == 200, (tail, r.text)
    r = api.req("POST", "Calls/%s" % c["sid"], json_suffix=False, data={"Status": "completed"})
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    r = api.req("DELETE", "Calls/%s" % c["sid"], json_suffix=False)
    assert r.status_code == 204 and r.content == b""
    assert err(api.req("GET", "Calls/%s" % c["sid"])) == (404, 20404)


@pytest.mark.parametrize("method,tail", [("DELETE", "Calls"), ("PUT", "Calls"), ("PATCH", "Calls"),
                                         ("PUT", "Calls/{ca}")])
def test_wrong_method_is_405_20004(api, method, tail):
    assert err(api.req(method, tail.format(ca=unknown_sid("twilio", "CA")))) == (405, 20004)


def test_other_accounts_call_is_not_visible(api, uuid_api):
    c = uuid_api.create_call("sim:" + unique("other"), Twiml=HANGUP)
    # the twilio account's credentials on its own path, asking for the UUID account's call
    assert err(api.req("GET", "Calls/%s" % c["sid"])) == (404, 20404)


def test_same_call_under_both_prefixes(api):
    c = api.create_call("sim:" + unique("both"), Twiml=HANGUP)
    other = CallsApi(api.acct, LAML_PREFIX if api.prefix == TWILIO_PREFIX else TWILIO_PREFIX)
    f = other.call(c["sid"])
    assert f["sid"] == c["sid"]
    assert f["uri"] == "/%s/Accounts/%s/Calls/%s.json" % (other.prefix, api.acct["sid"], c["sid"])


# ---------------------------------------------------------------- webhooks
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_webhook_parameters_and_signature(api, hooks, method):
    room, to = unique("hook"), "sim:" + unique("hook")
    c = api.create_call(to, Url=hooks.url("/voice", room=room), Method=method)
    req = hooks.wait_for_call(c["sid"])
    assert req.method == method
    p = req.params
    missing = [k for k in STANDARD_PARAMS if k not in p]
    assert not missing, "standard webhook parameters missing: %s (got %r)" % (missing, p)
    assert (p["CallSid"], p["AccountSid"], p["From"], p["To"]) == (c["sid"], api.acct["sid"], FROM, to)
    assert (p["Caller"], p["Called"], p["ApiVersion"], p["Direction"]) == (FROM, to, "2010-04-01", "outbound-api")
    assert p["ParentCallSid"] in ("", None)
    assert p["CallStatus"] in ("ringing", "in-progress")
    assert_signed(api.acct, req)
    api.wait_in_room(room, c["sid"])
    api.hangup(c["sid"])


def test_webhook_signed_with_uuid_accounts_token(uuid_api, hooks):
    room = unique("uuidhook")
    c = uuid_api.create_call("sim:" + unique("uh"), Url=hooks.url("/voice", room=room))
    req = hooks.wait_for_call(c["sid"])
    assert req.params["AccountSid"] == uuid_api.acct["sid"]
    assert_signed(uuid_api.acct, req)
    assert request_validator()(CFG["accounts"]["twilio"]["auth_token"]).validate(
        req.url, req.signed_params, req.signature) is False
    uuid_api.wait_in_room(room, c["sid"])
    uuid_api.hangup(c["sid"])


def test_status_callback_completed(api, hooks):
    cb = hooks.url("/status", tag=unique("cb"))
    c = api.create_call("sim:" + unique("sc"), Twiml=HANGUP, StatusCallback=cb)
    # Twilio: "If no StatusCallbackEvent is specified, we will send the completed status."
    req = wait_until(lambda: next((r for r in hooks.for_call(c["sid"]) if r.url == cb), None),
                     timeout=1.5, what="status callback for %s" % c["sid"])
    assert req.method == "POST"
    assert req.params["CallStatus"] == "completed"
    assert req.params["AccountSid"] == api.acct["sid"]
    assert_signed(api.acct, req)


def test_fallback_url_when_url_fails(api, hooks):
    room = unique("fallback")
    c = api.create_call("sim:" + unique("fb"), Url="http://127.0.0.1:9/unreachable",
                        FallbackUrl=hooks.url("/voice", room=room))
    req = hooks.wait_for_call(c["sid"])
    assert req.url == hooks.url("/voice", room=room) and req.method == "POST"
    assert_signed(api.acct, req)
    api.wait_in_room(room, c["sid"])
    api.hangup(c["sid"])


def test_redirect_with_url_get(api, hooks):
    c, room_a = api.live_call()
    room_b = unique("redir")
    r = api.update_call(c["sid"], Url=hooks.url("/voice", room=room_b), Method="GET")
    assert r.status_code == 200 and r.json()["status"] == "in-progress", r.text
    req = hooks.wait_for_call(c["sid"])
    assert req.method == "GET" and req.params["CallStatus"] == "in-progress"
    assert_signed(api.acct, req)
    api.wait_in_room(room_b, c["sid"])
    wait_until(lambda: c["sid"] not in api.in_room(room_a), what="left %s" % room_a)
    api.hangup(c["sid"])


def test_update_right_after_join_leaves_the_conference(hooks):
    """Redirect (Twiml, Url) or hang up as soon as the participant shows up in room A: the call must leave
    room A. One prefix is enough (the race is in the call actor); stops at the first call left behind."""
    api = CallsApi(CFG["accounts"]["twilio"], TWILIO_PREFIX)
    for i in range(6):
        how = ("Twiml", "Url", "hangup")[i % 3]
        room_a, room_b = unique("racea"), unique("raceb")
        c = api.create_call("sim:" + unique("race"), Twiml=dial_conference(room_a))
        wait_until(lambda: c["sid"] in api.in_room(room_a), interval=0.005, what="%s in %s" % (c["sid"], room_a))
        data = {"Twiml": dial_conference(room_b)} if how == "Twiml" else \
            {"Url": hooks.url("/voice", room=room_b)} if how == "Url" else {"Status": "completed"}
        assert api.update_call(c["sid"], **data).status_code == 200
        try:
            if how != "hangup":
                api.wait_in_room(room_b, c["sid"])
            wait_until(lambda: c["sid"] not in api.in_room(room_a), timeout=2,
                       what="%s (%s) to leave %s" % (c["sid"], how, room_a))
        finally:
            api.hangup(c["sid"])


# ---------------------------------------------------------------- sim outcomes
@pytest.mark.parametrize("answer", ["busy", "failed"])
def test_sim_outcomes(api, answer):
    c = api.create_call("sim:x?answer=%s" % answer, Twiml=HANGUP)
    f = api.wait_status(c["sid"], answer)
    assert f["duration"] in ("0", None)
    status, code = err(api.update_call(c["sid"], Twiml=HANGUP))
    assert status in invalid(api) and code == 21220
    assert api.req("DELETE", "Calls/%s" % c["sid"]).status_code == 204


def test_sim_hangup_completes_call(api):
    room = unique("selfhang")
    c = api.create_call("sim:x?hangup=300", Twiml=dial_conference(room))
    f = api.wait_status(c["sid"], "completed")
    assert f["duration"].isdigit() and f["end_time"] is not None
    assert c["sid"] not in api.in_room(room)


def test_sim_delay_rings(api):
    c = api.create_call("sim:slow?delay=300", Twiml=HANGUP)
    assert api.call(c["sid"])["status"] in ("queued", "ringing")
    api.wait_status(c["sid"], "completed", timeout=10)


def test_cancel_in_progress_is_rejected_or_ignored(api):
    # Twilio: Status=canceled "attempts to hang up a queued or ringing call"; an in-progress call stays up.
    c, _ = api.live_call()
    r = api.update_call(c["sid"], Status="canceled")
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        err(r)
    assert api.call(c["sid"])["status"] == "in-progress"
    api.hangup(c["sid"])


def test_update_status_invalid_value(api):
    c, _ = api.live_call()
    assert 400 <= err(api.update_call(c["sid"], Status="busy"))[0] < 500
    assert api.call(c["sid"])["status"] == "in-progress"
    api.hangup(c["sid"])


# ---------------------------------------------------------------- list filters and paging
def test_list_filters(api):
    tag = unique("filt")
    live, _ = api.live_call()
    ended = api.create_call("sim:%s-ended" % tag, Twiml=HANGUP)
    api.wait_status(ended["sid"], "completed")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    to = ended["to"]
    assert api.sids(To=to) == [ended["sid"]]
    assert api.sids(To=to, From=FROM) == [ended["sid"]]
    assert api.sids(To=to, From="+15005550001") == []
    assert api.sids(To=to, Status="completed") == [ended["sid"]]
    assert api.sids(To=to, Status="in-progress") == []
    assert api.sids(To=live["to"], Status="in-progress") == [live["sid"]]
    assert api.sids(To=to, ParentCallSid=unknown_sid("twilio", "CA")) == []
    for k, v, hit in [("StartTime", today, True), ("StartTime>", today, True), ("StartTime<", "2999-01-01", True),
                      ("StartTime<", "2000-01-01", False), ("StartTime", "2000-01-01", False),
                      ("EndTime", today, True), ("EndTime>", today, True), ("EndTime<", "2000-01-01", False)]:
        assert (api.sids(To=to, **{k: v}) == [ended["sid"]]) is hit, (k, v)
    assert api.sids(To=live["to"], EndTime=today) == []  # not ended yet
    assert api.sids(To=live["to"], StartTime=today) == [live["sid"]]
    api.hangup(live["sid"])


def test_list_invalid_status_filter(api):
    status, _ = err(api.req("GET", "Calls", params={"Status": "bogus"}))
    assert status in (400, 422)


def test_next_page_uri_carries_filters(api):
    to = "sim:" + unique("pg")
    made = [api.create_call(to, Twiml=HANGUP)["sid"] for _ in range(3)]
    first = api.list_calls(To=to, PageSize=1)
    assert first["page"] == 0 and first["page_size"] == 1 and len(first["calls"]) == 1
    assert first["previous_page_uri"] is None
    assert first["uri"].startswith("/%s/Accounts/%s/Calls.json" % (api.prefix, api.acct["sid"])), first["uri"]
    got = [first["calls"][0]["sid"]]
    nxt = first["next_page_uri"]
    pages = 1
    while nxt:
        assert nxt.startswith("/%s/Accounts/%s/Calls.json?" % (api.prefix, api.acct["sid"])), nxt
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(nxt).query)
        assert q.get("To") == [to] and q.get("PageSize") == ["1"], nxt
        r = api.s.get(api.base + nxt, timeout=30)
        CAP.record("GET", r.url, r.status_code, r.text)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["page"] == pages and body["start"] == pages and body["end"] == pages
        got += [c["sid"] for c in body["calls"]]
        nxt = body["next_page_uri"]
        pages += 1
        assert pages < 10
    assert sorted(got) == sorted(made)


def test_page_size_too_large_20007(api):
    status, code = err(api.req("GET", "Calls", params={"PageSize": 1001}))
    assert code == 20007 and status in ((400,) if api.prefix == TWILIO_PREFIX else (400, 422))


# ---------------------------------------------------------------- delete
def test_delete_ended_then_gone(api):
    c = api.ended_call()
    r = api.req("DELETE", "Calls/%s" % c["sid"])
    assert r.status_code == 204 and r.content == b""
    assert err(api.req("GET", "Calls/%s" % c["sid"])) == (404, 20404)
    assert err(api.req("DELETE", "Calls/%s" % c["sid"])) == (404, 20404)
    assert api.sids(To=c["to"]) == []


def test_delete_live_call_21220(api):
    c, _ = api.live_call()
    status, code = err(api.req("DELETE", "Calls/%s" % c["sid"]))
    assert status in invalid(api) and code == 21220
    api.hangup(c["sid"])


def test_https_listener_serves_calls(api):
    c = api.create_call("sim:" + unique("tls"), Twiml=HANGUP)
    tls = CallsApi(api.acct, api.prefix, base=CFG["https_url"])
    tls.s.verify = CFG["ca_file"]
    r = tls.req("GET", "Calls/%s" % c["sid"])
    assert r.status_code == 200 and r.json()["sid"] == c["sid"]
