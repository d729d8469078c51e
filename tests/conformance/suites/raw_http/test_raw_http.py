"""Raw HTTP checks of what the official clients cannot send or do not look at: wrong methods,
unknown routes, credentials, headers, boolean spellings, body encodings, and the documented
conference/participant lifecycle. Runs in the py-tools virtualenv with `requests`; every response
is captured for the contract check like the client suites' ones.

Expectations follow Twilio's documentation (reference/twilio-conference-api.md) where it speaks,
and the confab contract where it does not."""
import json
import time
import urllib.parse

import pytest
import requests

from conformance_common import (LAML_PREFIX, TWILIO_PREFIX, Capture, is_rfc2822_gmt, load_config, unique,
                                wait_until)

CFG = load_config()
CAP = Capture(CFG["capture_file"], "raw-http")
FROM = "+15005550006"
PREFIXES = [TWILIO_PREFIX, LAML_PREFIX]


class Api:
    def __init__(self, acct, prefix, base=None):
        self.acct, self.prefix = acct, prefix
        self.base = base or CFG["http_url"]
        self.s = requests.Session()
        self.s.trust_env = False
        self.s.auth = (acct["sid"], acct["auth_token"])

    def url(self, tail, json_suffix=True):
        path = "/%s/Accounts/%s/%s" % (self.prefix, self.acct["sid"], tail)
        return self.base + path + (".json" if json_suffix else "")

    def req(self, method, tail, json_suffix=True, **kw):
        kw.setdefault("timeout", 30)
        r = self.s.request(method, self.url(tail, json_suffix), **kw)
        CAP.record(method, r.url, r.status_code, r.text, "raw-" + self.prefix.split("/")[0])
        return r

    def create(self, conf, to, **extra):
        r = self.req("POST", "Conferences/%s/Participants" % conf, data={"From": FROM, "To": to, **extra})
        assert r.status_code == 201, r.text
        return r.json()

    def participant(self, cf, ident):
        return self.req("GET", "Conferences/%s/Participants/%s" % (cf, ident))

    def conference(self, cf):
        r = self.req("GET", "Conferences/%s" % cf)
        assert r.status_code == 200, r.text
        return r.json()

    def room(self, n=2, **extra):
        name = unique("raw")
        ps = [self.create(name, "sim:p%d" % i, **extra) for i in range(n)]
        cf = ps[0]["conference_sid"]
        for p in ps:
            self.wait_connected(cf, p["call_sid"])
        return cf, ps

    def wait_connected(self, cf, ca):
        want = "connected" if self.prefix == TWILIO_PREFIX else "in-progress"
        return wait_until(lambda: (lambda r: r.status_code == 200 and r.json()["status"] == want)(
            self.participant(cf, ca)), what="%s connected" % ca)


def err(r):
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers.get("Content-Type")
    body = r.json()
    assert set(body) == {"code", "message", "more_info", "status"}, body
    assert body["status"] == r.status_code
    return r.status_code, body["code"]


@pytest.fixture(scope="module", params=PREFIXES, ids=["twilio-prefix", "laml-prefix"])
def api(request):
    return Api(CFG["accounts"]["twilio"], request.param)


@pytest.fixture(scope="module")
def uuid_api(api):
    return Api(CFG["accounts"]["signalwire"], api.prefix)


# ---------------------------------------------------------------- routing and methods
def test_unknown_route_is_404_20404(api):
    assert err(api.req("GET", "NoSuchThing")) == (404, 20404)
    r = api.s.get(CFG["http_url"] + "/2010-04-02/Accounts/%s/Conferences.json" % api.acct["sid"], timeout=30)
    assert err(r) == (404, 20404)


@pytest.mark.parametrize("method,tail", [("DELETE", "Conferences"), ("POST", "Conferences"), ("PUT", "Conferences"),
                                         ("DELETE", "Conferences/{cf}"), ("PATCH", "Conferences/{cf}/Participants")])
def test_wrong_method_is_405_20004(api, method, tail):
    cf, _ = api.room(2) if "{cf}" in tail else (None, None)
    assert err(api.req(method, tail.format(cf=cf))) == (405, 20004)


def test_paths_without_json_suffix(api):
    cf, ps = api.room(2)
    for tail in ("Conferences", "Conferences/%s" % cf, "Conferences/%s/Participants" % cf,
                 "Conferences/%s/Participants/%s" % (cf, ps[0]["call_sid"])):
        r = api.req("GET", tail, json_suffix=False)
        assert r.status_code == 200, (tail, r.text)
        assert r.headers["Content-Type"].startswith("application/json")
    r = api.req("POST", "Conferences/%s/Participants/%s" % (cf, ps[0]["call_sid"]), json_suffix=False,
                data={"Muted": "true"})
    assert r.status_code == 200 and r.json()["muted"] is True


# ---------------------------------------------------------------- authentication
def test_wrong_token_401_20003_with_www_authenticate(api):
    r = requests.get(api.url("Conferences"), auth=(api.acct["sid"], "wrong"), timeout=30)
    CAP.record("GET", r.url, r.status_code, r.text)
    assert err(r) == (401, 20003)
    assert r.headers.get("WWW-Authenticate", "").lower().startswith("basic"), r.headers


def test_no_credentials_401_20003(api):
    r = requests.get(api.url("Conferences"), timeout=30)
    CAP.record("GET", r.url, r.status_code, r.text)
    assert err(r) == (401, 20003)


def test_other_accounts_path_is_401_20003(api, uuid_api):
    # Twilio: credentials of account A on /Accounts/B/... is a 20003 (401) error.
    r = requests.get(uuid_api.url("Conferences"), auth=api.s.auth, timeout=30)
    CAP.record("GET", r.url, r.status_code, r.text)
    assert err(r) == (401, 20003)


# ---------------------------------------------------------------- request encodings
@pytest.mark.parametrize("spelling,expected", [("true", True), ("True", True), ("TRUE", True), ("false", False),
                                               ("False", False), ("yes", False), ("1", False)])
def test_boolean_spellings(api, spelling, expected):
    """Booleans are case-insensitive; "Anything value other than true or false is interpreted as false"."""
    cf, ps = api.room(2)
    ca = ps[0]["call_sid"]
    api.req("POST", "Conferences/%s/Participants/%s" % (cf, ca), data={"Muted": "true" if not expected else "false"})
    r = api.req("POST", "Conferences/%s/Participants/%s" % (cf, ca), data={"Muted": spelling})
    assert r.status_code == 200, r.text
    assert r.json()["muted"] is expected


def test_json_body(api):
    cf, ps = api.room(2)
    ca = ps[0]["call_sid"]
    r = api.req("POST", "Conferences/%s/Participants/%s" % (cf, ca), json={"Muted": True, "Hold": True})
    assert r.status_code == 200, r.text
    assert (r.json()["muted"], r.json()["hold"]) == (True, True)
    r = api.req("POST", "Conferences/%s/Participants" % cf, json={"From": FROM, "To": "sim:json", "Label": "json x"})
    assert r.status_code == 201, r.text
    assert r.json()["label"] == "json x"


def test_repeated_and_space_separated_list_params(api):
    name = unique("lists")
    r = api.req("POST", "Conferences/%s/Participants" % name,
                data=[("From", FROM), ("To", "sim:lists"), ("StatusCallbackEvent", "initiated"),
                      ("StatusCallbackEvent", "completed"), ("ConferenceStatusCallbackEvent", "start end join"),
                      ("StatusCallback", "http://127.0.0.1:9/cb")])
    assert r.status_code == 201, r.text


def test_get_with_form_content_type(api):
    # twilio-python 9 sends Content-Type: application/x-www-form-urlencoded on bodiless list GETs
    r = api.req("GET", "Conferences", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200


# ---------------------------------------------------------------- response details
def test_connection_close_is_echoed(api):
    r = api.req("GET", "Conferences", headers={"Connection": "close"})
    assert r.status_code == 200
    assert r.headers.get("Connection", "").lower() == "close", r.headers


def test_delete_is_204_with_empty_body(api):
    cf, ps = api.room(3)
    r = api.req("DELETE", "Conferences/%s/Participants/%s" % (cf, ps[2]["call_sid"]))
    assert r.status_code == 204
    assert r.content == b""


def test_create_response(api):
    p = api.create(unique("create"), "sim:c", Label="c")
    assert is_rfc2822_gmt(p["date_created"]) and is_rfc2822_gmt(p["date_updated"])
    if api.prefix == TWILIO_PREFIX:
        assert p["status"] == "queued"
        assert p["queue_time"] is not None
    else:
        assert p["status"] == "in-progress"


# ---------------------------------------------------------------- validation errors
def test_create_requires_from_and_to(api):
    name = unique("req")
    status, code = err(api.req("POST", "Conferences/%s/Participants" % name, data={"From": FROM}))
    assert status in (400, 422) and code == 21201  # "No Called number specified"
    status, code = err(api.req("POST", "Conferences/%s/Participants" % name, data={"To": "sim:x"}))
    assert status in (400, 422) and code == 21213  # "Caller phone number is required"


def test_invalid_page_token_21481(api):
    status, code = err(api.req("GET", "Conferences", params={"PageToken": "not-a-token"}))
    assert status in (400, 422) and code == 21481


def test_page_size_too_large_20007(api):
    status, code = err(api.req("GET", "Conferences", params={"PageSize": 1001}))
    assert code == 20007
    assert status == 400 if api.prefix == TWILIO_PREFIX else status in (400, 422)


def test_conference_announce_method_validated(api):
    cf, _ = api.room(2)
    r = api.req("POST", "Conferences/%s" % cf, data={"AnnounceUrl": "http://127.0.0.1:9/a", "AnnounceMethod": "PUT"})
    assert err(r)[0] in (400, 422)
    r = api.req("POST", "Conferences/%s" % cf, data={"AnnounceUrl": "http://127.0.0.1:9/a", "AnnounceMethod": "GET"})
    assert r.status_code == 200


def test_duplicate_label_rejected(api):
    cf, _ = api.room(2)
    api.create(cf, "sim:l1", Label="same label")
    r = api.req("POST", "Conferences/%s/Participants" % cf, data={"From": FROM, "To": "sim:l2", "Label": "same label"})
    status, code = err(r)
    assert status in (400, 409, 422) and code == 16026  # "Label in use"


def test_create_on_completed_conference_sid_fails(api):
    # "If a conference specified by ConferenceSid is not active, the request fails."
    cf, _ = api.room(2)
    assert api.req("POST", "Conferences/%s" % cf, data={"Status": "completed"}).status_code == 200
    r = api.req("POST", "Conferences/%s/Participants" % cf, data={"From": FROM, "To": "sim:late"})
    assert 400 <= r.status_code < 500, r.text
    err(r)


# ---------------------------------------------------------------- lifecycle
def test_conference_init_until_two_participants(api):
    name = unique("init")
    p = api.create(name, "sim:first")
    cf = p["conference_sid"]
    api.wait_connected(cf, p["call_sid"])
    assert api.conference(cf)["status"] == "init"
    api.create(name, "sim:second")
    wait_until(lambda: api.conference(cf)["status"] == "in-progress", what="conference start")


def test_no_start_without_start_conference_on_enter(api):
    name = unique("nostart")
    ps = [api.create(name, "sim:w%d" % i, StartConferenceOnEnter="false") for i in range(2)]
    cf = ps[0]["conference_sid"]
    for p in ps:
        api.wait_connected(cf, p["call_sid"])
    assert api.conference(cf)["status"] == "init"
    api.create(name, "sim:moderator")
    wait_until(lambda: api.conference(cf)["status"] == "in-progress", what="conference start")


def test_sim_delay_rings_first(api):
    cf, _ = api.room(2)
    p = api.create(cf, "sim:slow?delay=1500")
    early = api.participant(cf, p["call_sid"]).json()["status"]
    if api.prefix != TWILIO_PREFIX:
        assert early == "in-progress"  # LaML folds queued/ringing/connected into in-progress
        return
    assert early in ("queued", "connecting", "ringing"), early
    t0 = time.monotonic()
    api.wait_connected(cf, p["call_sid"])
    assert time.monotonic() - t0 > 0.8


@pytest.mark.parametrize("answer", ["busy", "no-answer", "failed"])
def test_sim_failures(api, answer):
    cf, _ = api.room(2)
    # no-answer rings for Timeout seconds first (default 60; minimum 5)
    p = api.create(cf, "sim:x?answer=%s" % answer, Timeout="5")
    want = "failed" if api.prefix == TWILIO_PREFIX else "completed"

    def settled():
        r = api.participant(cf, p["call_sid"])
        if r.status_code == 404:
            return "gone"
        return r.json()["status"] == want

    wait_until(settled, timeout=20, what="sim %s to fail" % answer)


def test_last_participant_kicked_ends_conference(api):
    cf, ps = api.room(2)
    for p in ps:
        assert api.req("DELETE", "Conferences/%s/Participants/%s" % (cf, p["call_sid"])).status_code == 204
    c = wait_until(lambda: (lambda c: c if c["status"] == "completed" else None)(api.conference(cf)),
                   what="conference end")
    assert c["reason_conference_ended"] == "last-participant-kicked"


def test_end_conference_on_exit_kicked(api):
    cf, ps = api.room(3)
    api.req("POST", "Conferences/%s/Participants/%s" % (cf, ps[0]["call_sid"]), data={"EndConferenceOnExit": "true"})
    assert api.req("DELETE", "Conferences/%s/Participants/%s" % (cf, ps[0]["call_sid"])).status_code == 204
    c = wait_until(lambda: (lambda c: c if c["status"] == "completed" else None)(api.conference(cf)),
                   what="conference end")
    assert c["reason_conference_ended"] == "participant-with-end-conference-on-exit-kicked"
    assert c["call_sid_ending_conference"] == ps[0]["call_sid"]
    assert api.req("GET", "Conferences/%s/Participants" % cf).json()["participants"] == []


def test_label_with_encoded_slash_not_found(api):
    cf, _ = api.room(2)
    r = api.req("GET", "Conferences/%s/Participants/%s" % (cf, urllib.parse.quote("a/b", safe="")))
    assert r.status_code in (400, 404)
    err(r)


def test_next_page_uri_carries_filters(api):
    cf, ps = api.room(3)
    for p in ps:
        api.req("POST", "Conferences/%s/Participants/%s" % (cf, p["call_sid"]), data={"Muted": "true"})
    first = api.req("GET", "Conferences/%s/Participants" % cf, params={"Muted": "true", "PageSize": 1}).json()
    nxt = first["next_page_uri"]
    assert nxt and nxt.startswith("/%s/" % api.prefix), nxt
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(nxt).query)
    assert q.get("Muted") == ["true"] and q.get("PageSize") == ["1"] and q.get("Page") == ["1"], nxt
    assert first["first_page_uri"].startswith("/%s/" % api.prefix)
    assert first["previous_page_uri"] is None
    second = api.s.get(api.base + nxt, timeout=30)
    CAP.record("GET", second.url, second.status_code, second.text)
    assert second.status_code == 200
    body = second.json()
    assert body["page"] == 1 and body["start"] == 1 and body["end"] == 1
    assert body["previous_page_uri"] and body["previous_page_uri"].startswith("/%s/" % api.prefix)


def test_https_listener_serves_same_data(api):
    cf, ps = api.room(2)
    tls = Api(api.acct, api.prefix, base=CFG["https_url"])
    tls.s.verify = CFG["ca_file"]
    r = tls.req("GET", "Conferences/%s/Participants/%s" % (cf, ps[0]["call_sid"]))
    assert r.status_code == 200 and r.json()["call_sid"] == ps[0]["call_sid"]


def test_conference_date_filters(api):
    cf, _ = api.room(2)
    today = time.strftime("%Y-%m-%d", time.gmtime())

    def sids(params):
        r = api.req("GET", "Conferences", params=params)
        assert r.status_code == 200, r.text
        return [c["sid"] for c in r.json()["conferences"]]
    assert cf in sids({"DateCreated": today})
    assert cf in sids({"DateCreated>": today})
    assert cf in sids({"DateCreated<": "2999-01-01"})
    assert cf not in sids({"DateCreated<": "2000-01-01"})
    assert cf not in sids({"DateCreated": "2000-01-01"})
    assert cf in sids({"DateUpdated>": today})


def test_label_with_slash_rejected_16024(api):
    # "Label ... not CallSid-like, no / or %2F (16024)"
    r = api.req("POST", "Conferences/%s/Participants" % unique("lbl"),
                data={"From": FROM, "To": "sim:x", "Label": "a/b"})
    status, code = err(r)
    assert 400 <= status < 500 and code == 16024


def test_same_friendly_name_after_end_makes_new_conference(api):
    name = unique("again")
    first = api.create(name, "sim:a")["conference_sid"]
    assert api.req("POST", "Conferences/%s" % first, data={"Status": "completed"}).status_code == 200
    second = api.create(name, "sim:b")["conference_sid"]
    assert second != first
    assert api.conference(first)["status"] == "completed"
    r = api.req("GET", "Conferences", params={"FriendlyName": name})
    assert sorted(c["sid"] for c in r.json()["conferences"]) == sorted([first, second])
