"""The Calls-resource and voice-webhook scenario every Python client suite runs.

A suite subclasses `CallsScenario` and sets `make_adapter` (the same factory as for `Scenario`).
Adapters return what the CLIENT parsed as a dict with the snake_case field names of Twilio's
`api.v2010.account.call` schema (`from` for the caller). Webhook requests are received by
pylib/webhook.py and their X-Twilio-Signature is checked with twilio's RequestValidator.

Each test runs in four variants: {twilio-style AC account, UUID account} x
{/2010-04-01, /api/laml/2010-04-01}.
"""
import datetime as dt
import time

import pytest

from conformance_common import (TWILIO_PREFIX, VARIANTS, VARIANT_IDS, expected_status, load_config,
                                sid_matches, unique, unknown_sid, wait_until)
from webhook import WebhookReceiver, dial_conference, request_validator

FROM = "+15005550006"
HANGUP = "<Response><Hangup/></Response>"
PAUSE = '<Response><Pause length="60"/></Response>'
POLL_S = 0.02
LIVE_STATUSES = ("queued", "ringing", "in-progress")
# Sent with every voice webhook (Twilio "Request parameters"); values are checked below.
CORE_PARAMS = ("CallSid", "AccountSid", "From", "To", "CallStatus", "ApiVersion", "Direction", "Caller", "Called")


def invalid_statuses(prefix):
    """HTTP status of a 21xxx validation error: Twilio 400; the LaML dialect answers 422 (DESIGN.md)."""
    return (400,) if prefix == TWILIO_PREFIX else (400, 422)


def call_uri(prefix, account_sid, call_sid):
    return "/%s/Accounts/%s/Calls/%s.json" % (prefix, account_sid, call_sid)


def today_utc():
    return dt.datetime.now(dt.timezone.utc).date()


class Ctx:
    """One variant: the adapter plus helpers that look at calls and conference rooms."""

    def __init__(self, adapter, style, prefix, acct):
        self.a, self.style, self.prefix, self.acct = adapter, style, prefix, acct
        self.live = []   # calls to hang up after the test
        self.rooms = {}  # room name -> conference sid, once it exists

    @property
    def account_sid(self):
        return self.a.account_sid

    def create(self, to, live=True, **kw):
        c = self.a.create_call(to, FROM, **kw)
        if live:
            self.live.append(c["sid"])
        return c

    def in_room(self, room):
        """{call_sid: participant status} of the conference named `room` (empty once it ended)."""
        if room not in self.rooms:
            confs = [x for x in self.a.list_conferences(friendly_name=room) if x["status"] != "completed"]
            if not confs:
                return {}
            self.rooms[room] = confs[0]["sid"]
        return {p["call_sid"]: p["status"] for p in self.a.list_participants(self.rooms[room])}

    def wait_in_room(self, room, call_sid, timeout=10):
        want = expected_status(self.prefix, "connected")
        return wait_until(lambda: self.in_room(room).get(call_sid) == want, timeout=timeout, interval=POLL_S,
                          what="call %s to be a %s participant of %s" % (call_sid, want, room))

    def wait_left_room(self, room, call_sid, timeout=10):
        return wait_until(lambda: call_sid not in self.in_room(room), timeout=timeout, interval=POLL_S,
                          what="call %s to leave %s" % (call_sid, room))

    def wait_status(self, call_sid, *statuses, timeout=10):
        return wait_until(lambda: (lambda c: c if c["status"] in statuses else None)(self.a.fetch_call(call_sid)),
                          timeout=timeout, interval=POLL_S, what="call %s to be %s" % (call_sid, "/".join(statuses)))

    def room_call(self, room=None):
        """A call that is in progress in a conference (its own room unless given)."""
        room = room or unique("callroom")
        c = self.create("sim:" + unique("live"), twiml=dial_conference(room))
        self.wait_in_room(room, c["sid"])
        return c, room

    def paused_call(self):
        """A call in progress that runs <Pause> (no conference)."""
        c = self.create("sim:" + unique("live"), twiml=PAUSE)
        return self.wait_status(c["sid"], "in-progress")

    def ended_call(self, to=None):
        c = self.create(to or "sim:" + unique("ended"), live=False, twiml=HANGUP)
        return self.wait_status(c["sid"], "completed")

    def cleanup(self):
        for sid in self.live:
            try:
                self.a.update_call(sid, status="completed")
            except self.a.Error:
                pass  # already ended (21220) or deleted (20404)
        self.live = []


class CallsScenario:
    make_adapter = None  # set by the suite: (cfg, account dict, prefix, variant id) -> adapter
    # the client serialises date filters itself (twilio-python: datetime -> YYYY-MM-DDTHH:MM:SSZ)
    date_filters_take_dates = True

    # ------------------------------------------------------------------ fixtures
    @pytest.fixture(scope="class", params=VARIANTS, ids=VARIANT_IDS)
    @classmethod
    def calls_variant(cls, request):
        cfg = load_config()
        vid, style, prefix = request.param
        acct = cfg["accounts"][style]
        return cls.make_adapter(cfg, acct, prefix, vid), style, prefix, acct

    @pytest.fixture(scope="class")
    @classmethod
    def hooks(cls):
        receiver = WebhookReceiver()
        yield receiver
        receiver.close()

    @pytest.fixture
    def c(self, calls_variant):
        ctx = Ctx(*calls_variant)
        yield ctx
        ctx.cleanup()

    # ------------------------------------------------------------------ helpers
    def assert_call(self, ctx, call, to, statuses=LIVE_STATUSES):
        a = ctx.a
        assert sid_matches(ctx.style, "CA", call["sid"]), call["sid"]
        assert call["account_sid"] == ctx.account_sid
        assert call["to"] == to
        assert call["from"] == FROM
        assert call["direction"] == "outbound-api"
        assert call["api_version"] == "2010-04-01"
        assert call["parent_call_sid"] is None
        assert call["uri"] == call_uri(ctx.prefix, ctx.account_sid, call["sid"])
        assert call["status"] in statuses, call["status"]
        a.assert_date(call["date_created"])
        a.assert_date(call["date_updated"])

    def assert_signed(self, ctx, req):
        """The webhook's X-Twilio-Signature validates with the account's auth token, and only with it."""
        v = request_validator()
        assert req.signature, "no X-Twilio-Signature header on %r" % req
        assert v(ctx.acct["auth_token"]).validate(req.url, req.signed_params, req.signature) is True, \
            "X-Twilio-Signature %r does not validate for %s %s %r" % (req.signature, req.method, req.url,
                                                                     req.signed_params)
        # control: the same check fails with another token and with a tampered parameter
        assert v("0" * 32).validate(req.url, req.signed_params, req.signature) is False
        assert v(ctx.acct["auth_token"]).validate(req.url + "&tampered=1", req.signed_params, req.signature) is False
        if req.signed_params:
            tampered = dict(req.signed_params, CallSid="tampered")
            assert v(ctx.acct["auth_token"]).validate(req.url, tampered, req.signature) is False

    def assert_webhook(self, ctx, req, call, to, method):
        assert req.method == method, req
        p = req.params
        missing = [k for k in CORE_PARAMS if k not in p]
        assert not missing, "webhook parameters missing: %s (got %r)" % (missing, p)
        assert p["CallSid"] == call["sid"]
        assert p["AccountSid"] == ctx.account_sid
        assert p["From"] == FROM and p["Caller"] == FROM
        assert p["To"] == to and p["Called"] == to
        assert p["ApiVersion"] == "2010-04-01"
        assert p["Direction"] == "outbound-api"
        assert p["CallStatus"] in ("ringing", "in-progress"), p["CallStatus"]
        if method == "POST":
            assert req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
        self.assert_signed(ctx, req)

    # ------------------------------------------------------------------ create
    def test_create_with_twiml_then_fetch(self, c):
        room, to = unique("twiml"), "sim:" + unique("tw")
        call = c.create(to, twiml=dial_conference(room))
        assert c.a.last_create_status in (201, None)
        self.assert_call(c, call, to, statuses=("queued",))  # Twilio: "status": "queued" on create
        c.wait_in_room(room, call["sid"])
        f = c.a.fetch_call(call["sid"])
        self.assert_call(c, f, to, statuses=("in-progress",))
        c.a.assert_date(f["start_time"])
        assert f["end_time"] is None and f["duration"] is None
        assert f["date_created"] == call["date_created"]

    def test_create_with_url_post(self, c, hooks):
        room, to = unique("hookpost"), "sim:" + unique("hp")
        call = c.create(to, url=hooks.url("/voice", room=room))
        self.assert_call(c, call, to, statuses=("queued",))
        req = hooks.wait_for_call(call["sid"])
        self.assert_webhook(c, req, call, to, "POST")
        assert req.query == {"room": room}
        c.wait_in_room(room, call["sid"])  # the TwiML it answered ran
        assert c.a.fetch_call(call["sid"])["status"] == "in-progress"

    def test_create_with_url_get(self, c, hooks):
        room, to = unique("hookget"), "sim:" + unique("hg")
        call = c.create(to, url=hooks.url("/voice", room=room), method="GET")
        req = hooks.wait_for_call(call["sid"])
        self.assert_webhook(c, req, call, to, "GET")
        assert req.query["room"] == room
        assert req.form == {}
        c.wait_in_room(room, call["sid"])

    def test_participant_create_makes_a_call(self, c):
        room, to = unique("pcall"), "sim:" + unique("pc")
        p = c.a.create_participant(room, FROM, to)
        c.live.append(p["call_sid"])
        c.wait_in_room(room, p["call_sid"])
        call = c.wait_status(p["call_sid"], "in-progress")
        self.assert_call(c, call, to, statuses=("in-progress",))
        assert p["call_sid"] in [x["sid"] for x in c.a.list_calls(to=to)]

    # ------------------------------------------------------------------ fetch / list
    def test_list_filters_to_and_status(self, c):
        live = c.paused_call()
        ended = c.ended_call()
        to_live, to_ended = live["to"], ended["to"]

        def sids(**f):
            got = [x["sid"] for x in c.a.list_calls(**f)]
            assert len(got) == len(set(got)), "duplicates in %r" % got
            return got
        assert sids(to=to_live) == [live["sid"]]
        assert sids(to=to_ended) == [ended["sid"]]
        listed = c.a.list_calls(to=to_live)[0]
        self.assert_call(c, listed, to_live, statuses=("in-progress",))
        in_progress, completed = sids(status="in-progress"), sids(status="completed")
        assert live["sid"] in in_progress and ended["sid"] not in in_progress
        assert ended["sid"] in completed and live["sid"] not in completed
        assert sids(to=to_live, status="in-progress") == [live["sid"]]
        assert sids(to=to_live, status="completed") == []
        assert sids(from_=FROM, to=to_ended) == [ended["sid"]]
        assert sids(to="sim:" + unique("nobody")) == []

    def test_list_start_time_filters(self, c, request):
        call = c.ended_call()
        today = today_utc()
        if self.date_filters_take_dates:
            # what the client sends for a date/datetime (twilio-python: 2024-01-31T00:00:00Z)
            after, before_old = dt.datetime(today.year, today.month, today.day), dt.datetime(2000, 1, 1)
        else:
            after, before_old = today.isoformat(), "2000-01-01"
        got = [x["sid"] for x in c.a.list_calls(to=call["to"], start_time_after=after)]
        assert got == [call["sid"]]
        assert c.a.list_calls(to=call["to"], start_time_before=before_old) == []

    def test_paging(self, c):
        to = "sim:" + unique("pages")
        made = [c.create(to, live=False, twiml=HANGUP)["sid"] for _ in range(3)]
        pages = c.a.call_pages(page_size=1, to=to)
        assert [len(p) for p in pages] == [1, 1, 1], "next_page_uri must carry To and PageSize"
        got = [x["sid"] for page in pages for x in page]
        assert sorted(got) == sorted(made)
        assert all(x["to"] == to for page in pages for x in page)
        assert sorted(x["sid"] for x in c.a.list_calls(to=to, page_size=1)) == sorted(made)
        assert sorted(x["sid"] for x in c.a.stream_calls(to=to, page_size=1)) == sorted(made)
        limited = c.a.list_calls(to=to, page_size=1, limit=2)
        assert len(limited) == 2 and len({x["sid"] for x in limited}) == 2

    # ------------------------------------------------------------------ update
    def test_redirect_twiml_moves_conference(self, c):
        call, room_a = c.room_call()
        room_b = unique("moved")
        u = c.a.update_call(call["sid"], twiml=dial_conference(room_b))
        assert u["sid"] == call["sid"]
        assert u["status"] == "in-progress"
        c.wait_in_room(room_b, call["sid"])
        c.wait_left_room(room_a, call["sid"])
        assert call["sid"] not in c.in_room(room_a)
        assert c.a.fetch_call(call["sid"])["status"] == "in-progress"

    def test_redirect_url(self, c, hooks):
        call, room_a = c.room_call()
        room_b = unique("hookmoved")
        u = c.a.update_call(call["sid"], url=hooks.url("/voice", room=room_b), method="POST")
        assert u["sid"] == call["sid"] and u["status"] == "in-progress"
        req = hooks.wait_for_call(call["sid"])
        self.assert_webhook(c, req, call, call["to"], "POST")
        assert req.params["CallStatus"] == "in-progress"
        c.wait_in_room(room_b, call["sid"])
        c.wait_left_room(room_a, call["sid"])

    def test_hangup(self, c):
        call, room = c.room_call()
        u = c.a.update_call(call["sid"], status="completed")
        assert u["sid"] == call["sid"]
        assert u["status"] == "completed"
        f = c.a.fetch_call(call["sid"])
        self.assert_call(c, f, call["to"], statuses=("completed",))
        assert isinstance(f["duration"], str) and f["duration"].isdigit(), f["duration"]
        c.a.assert_date(f["start_time"])
        c.a.assert_date(f["end_time"])
        c.wait_left_room(room, call["sid"])
        assert call["sid"] in [x["sid"] for x in c.a.list_calls(to=call["to"], status="completed")]

    def test_cancel_ringing_call(self, c):
        to = "sim:" + unique("ring") + "?delay=5000"
        call = c.create(to, live=False, twiml=HANGUP)
        f = c.a.fetch_call(call["sid"])
        assert f["status"] in ("queued", "ringing"), f["status"]
        u = c.a.update_call(call["sid"], status="canceled")
        assert u["status"] == "canceled"
        assert c.a.fetch_call(call["sid"])["status"] == "canceled"

    # ------------------------------------------------------------------ delete
    def test_delete_ended_call(self, c):
        call = c.ended_call()
        assert c.a.delete_ok(c.a.delete_call(call["sid"]))
        assert c.a.expect_error(lambda: c.a.fetch_call(call["sid"])) == (404, 20404)
        assert c.a.list_calls(to=call["to"]) == []

    def test_delete_live_call_rejected(self, c):
        call = c.paused_call()
        status, code = c.a.expect_error(lambda: c.a.delete_call(call["sid"]))
        assert status in invalid_statuses(c.prefix) and code == 21220, (status, code)
        assert c.a.fetch_call(call["sid"])["status"] == "in-progress"

    # ------------------------------------------------------------------ errors
    def test_error_without_url_or_twiml(self, c):
        status, code = c.a.expect_error(lambda: c.a.create_call("sim:" + unique("nourl"), FROM))
        # Twilio: 400/21205 ("Url parameter is required"); SignalWire documents 422 for validation errors
        assert status in invalid_statuses(c.prefix), status
        assert code == 21205

    def test_error_update_ended_call(self, c):
        call = c.ended_call()
        for kw in ({"twiml": HANGUP}, {"url": "http://127.0.0.1:9/x"}):
            status, code = c.a.expect_error(lambda: c.a.update_call(call["sid"], **kw))
            assert status in invalid_statuses(c.prefix) and code == 21220, (kw, status, code)
        assert c.a.fetch_call(call["sid"])["status"] == "completed"

    def test_error_unknown_call(self, c):
        ghost = unknown_sid(c.style, "CA")
        assert c.a.expect_error(lambda: c.a.fetch_call(ghost)) == (404, 20404)
        assert c.a.expect_error(lambda: c.a.update_call(ghost, status="completed")) == (404, 20404)
        assert c.a.expect_error(lambda: c.a.delete_call(ghost)) == (404, 20404)

    def test_error_wrong_token(self, c):
        call = c.paused_call()
        bad = c.a.with_token("0" * 32)
        assert bad.expect_error(lambda: bad.fetch_call(call["sid"])) == (401, 20003)
        assert bad.expect_error(lambda: bad.update_call(call["sid"], status="completed")) == (401, 20003)
        assert bad.expect_error(lambda: bad.list_calls(to=call["to"]))[0] == 401
        assert c.a.fetch_call(call["sid"])["status"] == "in-progress"

