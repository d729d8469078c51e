"""The status-callback scenario every Python client suite runs (issue 10).

A suite subclasses `StatusCallbackScenario` and sets `make_adapter` (the same factory as for
`Scenario`); a suite whose library has its own webhook validator adds it to `validators`.
Through the client under test it scripts a conference whose participants subscribe every
conference event (`ConferenceStatusCallback`/`ConferenceStatusCallbackEvent`) and every call
progress event of their own calls (`StatusCallback`/`StatusCallbackEvent`): join, join, mute,
unmute, hold, unhold, modify, kick, end. It places an answered call and a busy one with call
progress subscribed. pylib/webhook.py receives the callbacks; the test checks the exact
sequence of events with consecutive `SequenceNumber`s, every parameter Twilio documents for
each event (and nothing else), the `X-Twilio-Signature` with the library's own validator
(and that it fails with another token or a tampered parameter), and the
`I-Twilio-Idempotency-Token`, `User-Agent` and `Content-Type` headers.

Each test runs in four variants: {twilio-style AC account, UUID account} x
{/2010-04-01, /api/laml/2010-04-01}.
"""
import time

import pytest

from conformance_common import VARIANTS, VARIANT_IDS, is_rfc2822_gmt, load_config, sid_matches, unique
from webhook import WebhookReceiver, request_validator

FROM = "+15005550006"
HANGUP = "<Response><Hangup/></Response>"
# every conference event name a participant can subscribe
CONFERENCE_EVENTS = ["start", "end", "join", "leave", "mute", "hold", "modify", "speaker", "announcement"]
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
# how long to keep listening after the last expected callback, to see that nothing follows
SETTLE_S = 0.2

# Parameters of a conference callback (reference section 8): on every event, on participant
# events, and each event's own.
CONFERENCE_COMMON = {"ConferenceSid", "FriendlyName", "AccountSid", "SequenceNumber", "Timestamp",
                     "StatusCallbackEvent"}
PARTICIPANT_BLOCK = {"CallSid", "Muted", "Hold", "Coaching", "EndConferenceOnExit", "StartConferenceOnEnter",
                     "ParticipantLabel"}
LEAVE_PARAMS = {"ParticipantCallStatus", "ReasonParticipantLeft"}
END_PARAMS = {"ReasonConferenceEnded", "Reason"}
# Parameters of a call progress callback (reference section 9): the standard call parameters,
# the progress ones, and those of the final event.
CALL_PARAMS = {"CallSid", "AccountSid", "From", "To", "Caller", "Called", "CallStatus", "ApiVersion", "Direction",
               "ForwardedFrom", "CallerName", "ParentCallSid", "Timestamp", "CallbackSource", "SequenceNumber"}
FINAL_CALL_PARAMS = {"CallDuration", "Duration", "SipResponseCode"}


def twilio_validator(token):
    return request_validator()(token)


def assert_callback_headers(req):
    """What Twilio sends with every status callback besides the signature."""
    assert req.idempotency_token, "no I-Twilio-Idempotency-Token on %r" % req
    assert req.headers.get("user-agent", "").startswith("TwilioProxy/"), req.headers
    if req.method == "POST":
        assert req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"), req.headers


def assert_signed(validators, token, req):
    """The callback validates with the account's auth token under every validator, and not with
    another token, another URL or a tampered parameter."""
    assert req.signature, "no X-Twilio-Signature on %r" % req
    for name, make in validators:
        v = make(token)
        assert v.validate(req.url, req.signed_params, req.signature) is True, \
            "%s validator: X-Twilio-Signature %r does not validate for %s %s %r" % (
                name, req.signature, req.method, req.url, req.signed_params)
        assert make("0" * 32).validate(req.url, req.signed_params, req.signature) is False, name
        assert v.validate(req.url + "&tampered=1", req.signed_params, req.signature) is False, name
        if req.signed_params:
            tampered = dict(req.signed_params, SequenceNumber="999")
            assert v.validate(req.url, tampered, req.signature) is False, name


def assert_unique_tokens(reqs):
    tokens = [r.idempotency_token for r in reqs]
    assert len(set(tokens)) == len(tokens), "idempotency tokens repeat across callbacks: %r" % tokens


def settled(hooks, tag, n, what):
    """The callbacks of `tag` once `n` have arrived, after SETTLE_S more (to see that no more follow)."""
    hooks.wait_tagged(tag, lambda rs: len(rs) >= n, what=what)
    time.sleep(SETTLE_S)
    return hooks.tagged(tag)


# The scripted conference's callbacks: (event, participant, parameters it must carry). Alice
# starts it; bob joins, alice is muted and unmuted, bob held and unheld, alice modified
# (EndConferenceOnExit), bob kicked, then the conference ended through the API.
SCRIPTED_EVENTS = [
    ("participant-join", "alice", {"Muted": "false", "Hold": "false", "StartConferenceOnEnter": "true",
                                   "EndConferenceOnExit": "false"}),
    ("participant-join", "bob", {"Muted": "false", "Hold": "false"}),
    ("conference-start", None, {}),
    ("participant-mute", "alice", {"Muted": "true"}),
    ("participant-unmute", "alice", {"Muted": "false"}),
    ("participant-hold", "bob", {"Hold": "true", "Muted": "false"}),
    ("participant-unhold", "bob", {"Hold": "false"}),
    ("participant-modify", "alice", {"EndConferenceOnExit": "true"}),
    ("participant-leave", "bob", {"ParticipantCallStatus": "completed",
                                  "ReasonParticipantLeft": "participant_updated_via_api"}),
    ("participant-leave", "alice", {"ParticipantCallStatus": "completed",
                                    "ReasonParticipantLeft": "conference_ended_via_api", "EndConferenceOnExit": "true"}),
    ("conference-end", None, {"ReasonConferenceEnded": "conference-ended-via-api"}),
]


class ScriptedConference:
    """What the scripted conference did: its room, callback URL and tag, SIDs, and the
    callbacks received (conference ones in order; each participant's call progress)."""

    def __init__(self, room, tag, hooks):
        self.room, self.tag = room, tag
        self.url = hooks.url("/status/conf", tag=tag)
        self.cf = None
        self.sids = {}        # label -> call sid
        self.conference = []  # HookRequests of the conference callback, in order
        self.calls = {}       # label -> HookRequests of its call progress, in order


class Variant:
    """One variant: the adapter and the account it acts for."""

    def __init__(self, adapter, style, prefix, acct):
        self.a, self.style, self.prefix, self.acct = adapter, style, prefix, acct

    @property
    def account_sid(self):
        return self.a.account_sid


class StatusCallbackScenario:
    make_adapter = None  # set by the suite: (cfg, account dict, prefix, variant id) -> adapter
    # (name, token -> validator with .validate(url, params, signature)); a suite adds its library's own
    validators = (("twilio.request_validator", twilio_validator),)

    # ------------------------------------------------------------------ fixtures
    @pytest.fixture(scope="class", params=VARIANTS, ids=VARIANT_IDS)
    @classmethod
    def v(cls, request):
        cfg = load_config()
        vid, style, prefix = request.param
        acct = cfg["accounts"][style]
        return Variant(cls.make_adapter(cfg, acct, prefix, vid), style, prefix, acct)

    @pytest.fixture(scope="class")
    @classmethod
    def hooks(cls):
        receiver = WebhookReceiver()
        yield receiver
        receiver.close()

    # ------------------------------------------------------------------ helpers
    def check_callback(self, v, req):
        assert req.method == "POST", req
        assert_callback_headers(req)
        assert_signed(self.validators, v.acct["auth_token"], req)

    def check_call_progress(self, v, reqs, call_sid, to, statuses):
        """Call progress callbacks of one call: `statuses` in order, numbered from 0."""
        assert [r.params.get("CallStatus") for r in reqs] == statuses, [r.params for r in reqs]
        for i, r in enumerate(reqs):
            p = r.params
            self.check_callback(v, r)
            final = i == len(reqs) - 1
            allowed = CALL_PARAMS | (FINAL_CALL_PARAMS if final else set())
            assert set(p) <= allowed, "unexpected parameters %s" % sorted(set(p) - allowed)
            missing = allowed - set(p) - {"Duration"}  # Duration (minutes): documented for completed only
            assert not missing, "call progress parameters missing: %s (got %r)" % (sorted(missing), p)
            assert p["SequenceNumber"] == str(i), p
            assert p["CallbackSource"] == "call-progress-events"
            assert (p["CallSid"], p["AccountSid"], p["From"], p["To"]) == (call_sid, v.account_sid, FROM, to)
            assert (p["Caller"], p["Called"]) == (FROM, to)
            assert (p["ApiVersion"], p["Direction"]) == ("2010-04-01", "outbound-api")
            assert is_rfc2822_gmt(p["Timestamp"]), p["Timestamp"]
            if final:
                assert p["CallDuration"].isdigit(), p
        assert_unique_tokens(reqs)
        return reqs[-1].params

    def join(self, v, hooks, room, label, conf_url, call_tag):
        return v.a.create_participant(
            room, FROM, "sim:" + label, label=label, beep="false",
            conference_status_callback=conf_url, conference_status_callback_event=CONFERENCE_EVENTS,
            status_callback=hooks.url("/status/call", tag=call_tag), status_callback_event=CALL_EVENTS)

    # ------------------------------------------------------------------ conference events
    def scripted_conference(self, v, hooks):
        """Scripts the conference through the client and checks every callback it caused;
        returns what happened for further checks (the raw-HTTP suite reads them back)."""
        run = ScriptedConference(unique("cbroom"), unique("conf"), hooks)
        call_tags = {"alice": unique("alice"), "bob": unique("bob")}
        # Each join is awaited through its callback: in the LaML dialect a queued participant
        # already reads `in-progress`, so the callbacks are the one signal both dialects share.
        alice = self.join(v, hooks, run.room, "alice", run.url, call_tags["alice"])
        hooks.wait_tagged(run.tag, lambda rs: len(rs) >= 1, what="participant-join of alice")
        bob = self.join(v, hooks, run.room, "bob", run.url, call_tags["bob"])
        hooks.wait_tagged(run.tag, lambda rs: len(rs) >= 3, what="participant-join of bob, conference-start")
        cf, a_sid, b_sid = alice["conference_sid"], alice["call_sid"], bob["call_sid"]
        assert bob["conference_sid"] == cf
        assert sid_matches(v.style, "CF", cf) and sid_matches(v.style, "CA", a_sid), (cf, a_sid)
        run.cf, run.sids = cf, {"alice": a_sid, "bob": b_sid}

        v.a.update_participant(cf, a_sid, muted=True)
        v.a.update_participant(cf, a_sid, muted=False)
        v.a.update_participant(cf, b_sid, hold=True)
        v.a.update_participant(cf, b_sid, hold=False)
        v.a.update_participant(cf, a_sid, end_conference_on_exit=True)
        v.a.delete_participant(cf, b_sid)  # kick
        v.a.update_conference(cf, status="completed")  # end

        got = settled(hooks, run.tag, len(SCRIPTED_EVENTS), "the scripted conference's callbacks")
        assert [(r.event, r.params.get("CallSid")) for r in got] == \
            [(e, run.sids.get(who)) for e, who, _ in SCRIPTED_EVENTS], [r.params for r in got]
        for i, (r, (event, who, want)) in enumerate(zip(got, SCRIPTED_EVENTS)):
            p = r.params
            self.check_callback(v, r)
            assert p["SequenceNumber"] == str(i + 1), p
            assert (p["ConferenceSid"], p["FriendlyName"], p["AccountSid"]) == (cf, run.room, v.account_sid), p
            assert is_rfc2822_gmt(p["Timestamp"]), p["Timestamp"]
            allowed = set(CONFERENCE_COMMON)
            if who:
                allowed |= PARTICIPANT_BLOCK
                assert p["ParticipantLabel"] == who and p["Coaching"] == "false", p
            if event == "participant-leave":
                allowed |= LEAVE_PARAMS
            if event == "conference-end":
                allowed |= END_PARAMS
                assert p["Reason"], p
            assert set(p) == allowed, (event, "missing or unexpected:", sorted(set(p) ^ allowed))
            for k, val in want.items():
                assert p[k] == val, (event, k, p)
        assert_unique_tokens(got)
        run.conference = got

        # the participants' own calls: progress numbered from 0, completed when kicked / ended
        for label in ("alice", "bob"):
            reqs = settled(hooks, call_tags[label], 4, "call progress of %s" % label)
            final = self.check_call_progress(v, reqs, run.sids[label], "sim:" + label,
                                             ["initiated", "ringing", "in-progress", "completed"])
            assert final["SipResponseCode"] == "200"
            run.calls[label] = reqs
        return run

    def test_scripted_conference_events(self, v, hooks):
        self.scripted_conference(v, hooks)

    # ------------------------------------------------------------------ call progress
    def test_call_progress_answered(self, v, hooks):
        tag, to = unique("answered"), "sim:" + unique("ok")
        call = v.a.create_call(to, FROM, twiml=HANGUP, status_callback=hooks.url("/status/call", tag=tag),
                               status_callback_event=CALL_EVENTS)
        reqs = settled(hooks, tag, 4, "call progress of an answered call")
        final = self.check_call_progress(v, reqs, call["sid"], to, ["initiated", "ringing", "in-progress", "completed"])
        assert final["SipResponseCode"] == "200"

    def test_call_progress_busy(self, v, hooks):
        tag, to = unique("busy"), "sim:%s?busy" % unique("b")
        call = v.a.create_call(to, FROM, twiml=HANGUP, status_callback=hooks.url("/status/call", tag=tag),
                               status_callback_event=CALL_EVENTS)
        reqs = settled(hooks, tag, 3, "call progress of a busy call")
        final = self.check_call_progress(v, reqs, call["sid"], to, ["initiated", "ringing", "busy"])
        assert final["SipResponseCode"] == "486" and final["CallDuration"] == "0", final
