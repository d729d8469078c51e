"""The participant/conference scenario every Python client suite runs.

A suite subclasses `Scenario` and sets `make_adapter` to a factory returning an adapter around
its official client (see suites/*/test_*.py). Adapters return what the CLIENT parsed, as a dict
with the snake_case field names of the Twilio schema; nothing here reads raw HTTP.

Each test runs in four variants: {twilio-style AC account, UUID account} x
{/2010-04-01, /api/laml/2010-04-01}.
"""
import datetime as dt

import pytest

from conformance_common import (LAML_PREFIX, TWILIO_PREFIX, VARIANTS, VARIANT_IDS, conference_uri,
                                expected_status, load_config, participant_uri, quote_label,
                                sid_matches, unique, unknown_sid, wait_until)

FROM = "+15005550006"
HOLD_URL = "http://127.0.0.1:9/hold.xml"
ANNOUNCE_URL = "http://127.0.0.1:9/announce.xml"
WAIT_URL = "http://127.0.0.1:9/wait.xml"
LABELS = ["alice", "bob smith", "carol", "dave", "erin"]


class Room:
    """One conference with five connected simulated participants, built once per variant."""

    def __init__(self, adapter, style, prefix):
        self.a = adapter
        self.style = style
        self.prefix = prefix
        self.name = unique("room")
        self.created = {}  # label -> participant as parsed from the create response
        self.sid = {}      # label -> call sid
        for label in LABELS:
            p = adapter.create_participant(self.name, FROM, "sim:" + label.replace(" ", "_"), label=label,
                                           start_conference_on_enter=True)
            self.created[label] = p
            self.sid[label] = p["call_sid"]
        self.cf = self.created["alice"]["conference_sid"]
        for label in LABELS:
            self.wait_connected(label)

    @property
    def account_sid(self):
        return self.a.account_sid

    def connected_status(self):
        return expected_status(self.prefix, "connected")

    def wait_connected(self, ident):
        want = self.connected_status()
        return wait_until(lambda: (lambda p: p if p["status"] == want else None)(
            self.a.fetch_participant(self.cf, quote_label(ident) if " " in ident else self.sid.get(ident, ident))),
            timeout=10, what="participant %s to be %s" % (ident, want))

    def reset(self):
        """Put every participant back to the neutral state."""
        for label in LABELS:
            self.a.update_participant(self.cf, self.sid[label], muted=False, hold=False, coaching=False)


class Scenario:
    make_adapter = None  # set by the suite: (cfg, account dict, prefix, variant id) -> adapter
    # whether the client exposes queue_time (twilio-python 6.54 / compat-api do not)
    has_queue_time = True

    # ------------------------------------------------------------------ fixtures
    @pytest.fixture(scope="class", params=VARIANTS, ids=VARIANT_IDS)
    @classmethod
    def variant(cls, request):
        cfg = load_config()
        vid, style, prefix = request.param
        acct = cfg["accounts"][style]
        adapter = cls.make_adapter(cfg, acct, prefix, vid)
        return adapter, style, prefix

    @pytest.fixture(scope="class")
    @classmethod
    def room(cls, variant):
        adapter, style, prefix = variant
        return Room(adapter, style, prefix)

    @pytest.fixture
    def r(self, room):
        room.reset()
        yield room

    # ------------------------------------------------------------------ helpers
    def assert_participant(self, room, p, label, status=None):
        a = room.a
        assert p["account_sid"] == room.account_sid
        assert p["call_sid"] == room.sid[label]
        assert sid_matches(room.style, "CA", p["call_sid"]), p["call_sid"]
        assert p["conference_sid"] == room.cf
        assert sid_matches(room.style, "CF", p["conference_sid"]), p["conference_sid"]
        assert p["label"] == label
        assert p["uri"] == participant_uri(room.prefix, room.account_sid, room.cf, room.sid[label])
        a.assert_date(p["date_created"])
        a.assert_date(p["date_updated"])
        for k in ("muted", "hold", "coaching", "end_conference_on_exit", "start_conference_on_enter"):
            assert isinstance(p[k], bool), (k, p[k])
        if status is not None:
            assert p["status"] == status

    # ------------------------------------------------------------------ create / fetch
    def test_create_participant_response(self, room):
        p = room.created["alice"]
        assert room.a.last_create_status in (201, None)
        self.assert_participant(room, p, "alice")
        # Twilio: "Response is immediate (201) with status: queued"; LaML maps it to in-progress.
        assert p["status"] == expected_status(room.prefix, "queued")
        assert p["muted"] is False and p["hold"] is False and p["coaching"] is False
        assert p["start_conference_on_enter"] is True and p["end_conference_on_exit"] is False
        assert p["call_sid_to_coach"] is None
        if self.has_queue_time and room.prefix == TWILIO_PREFIX:
            # "Only available in the response to a create participant request" (string of ms)
            assert isinstance(p["queue_time"], str) and p["queue_time"].isdigit(), p["queue_time"]
        assert len(set(room.sid.values())) == len(LABELS)

    def test_fetch_participant(self, r):
        p = r.a.fetch_participant(r.cf, r.sid["carol"])
        self.assert_participant(r, p, "carol", status=r.connected_status())
        assert p["muted"] is False and p["hold"] is False and p["coaching"] is False
        assert p["call_sid_to_coach"] is None
        if self.has_queue_time and r.prefix == TWILIO_PREFIX:
            assert p["queue_time"] is None

    def test_sim_busy_fails(self, r):
        p = r.a.create_participant(r.name, FROM, "sim:busy?answer=busy", label=unique("busy"))
        failed = expected_status(r.prefix, "failed")

        def settled():
            try:
                q = r.a.fetch_participant(r.cf, p["call_sid"])
            except r.a.Error as e:
                return "gone" if r.a.error_of(e)[0] == 404 else None
            return q["status"] if q["status"] == failed else None
        # Either the failed leg is still visible as failed, or it has left the participants list.
        wait_until(settled, timeout=10, what="busy sim call to fail")

    # ------------------------------------------------------------------ conference resource
    def test_fetch_conference(self, r):
        c = r.a.fetch_conference(r.cf)
        assert c["sid"] == r.cf
        assert c["account_sid"] == r.account_sid
        assert c["friendly_name"] == r.name
        assert c["status"] == "in-progress"
        assert c["api_version"] == "2010-04-01"
        assert c["uri"] == conference_uri(r.prefix, r.account_sid, r.cf)
        assert c["subresource_uris"]["participants"] == "/%s/Accounts/%s/Conferences/%s/Participants.json" % (
            r.prefix, r.account_sid, r.cf)
        assert c["reason_conference_ended"] is None
        r.a.assert_date(c["date_created"])

    def test_list_conferences(self, r):
        mine = r.a.list_conferences(friendly_name=r.name)
        assert [c["sid"] for c in mine] == [r.cf]
        assert mine[0]["status"] == "in-progress"
        assert r.cf in [c["sid"] for c in r.a.list_conferences(status="in-progress")]
        assert r.cf not in [c["sid"] for c in r.a.list_conferences(status="completed")]

    def test_update_conference_announce(self, r):
        c = r.a.update_conference(r.cf, announce_url=ANNOUNCE_URL, announce_method="GET")
        assert c["sid"] == r.cf and c["status"] == "in-progress"

    def test_end_conference(self, room):
        a = room.a
        name = unique("ending")
        first = a.create_participant(name, FROM, "sim:end1")
        a.create_participant(name, FROM, "sim:end2")
        cf = first["conference_sid"]
        wait_until(lambda: a.fetch_conference(cf)["status"] == "in-progress", what="conference start")
        c = a.update_conference(cf, status="completed")
        assert c["sid"] == cf
        assert c["status"] == "completed"
        assert c["reason_conference_ended"] == "conference-ended-via-api"
        assert c["call_sid_ending_conference"] is None
        assert a.fetch_conference(cf)["status"] == "completed"
        assert cf in [x["sid"] for x in a.list_conferences(status="completed")]
        # "When fetching conferences after the conference has ended, associated Participants will not be returned."
        assert a.list_participants(cf) == []
        status, code = a.expect_error(lambda: a.fetch_participant(cf, first["call_sid"]))
        assert (status, code) == (404, 20404)

    # ------------------------------------------------------------------ list filters and paging
    def test_list_filters(self, r):
        a, s = r.a, r.sid
        a.update_participant(r.cf, s["alice"], muted=True)
        a.update_participant(r.cf, s["bob smith"], hold=True)
        p = a.update_participant(r.cf, s["carol"], coaching=True, call_sid_to_coach=s["dave"])
        assert p["coaching"] is True and p["call_sid_to_coach"] == s["dave"]

        def sids(**f):
            got = [q["call_sid"] for q in a.list_participants(r.cf, **f)]
            assert len(got) == len(set(got)), "duplicates in %r" % got
            return set(got)
        everyone = set(s.values())
        assert sids() == everyone
        assert sids(muted=True) == {s["alice"]}
        assert sids(muted=False) == everyone - {s["alice"]}
        assert sids(hold=True) == {s["bob smith"]}
        assert sids(hold=False) == everyone - {s["bob smith"]}
        assert sids(coaching=True) == {s["carol"]}
        assert sids(coaching=False) == everyone - {s["carol"]}
        assert sids(muted=True, hold=True) == set()
        listed = {q["call_sid"]: q for q in a.list_participants(r.cf)}
        assert listed[s["alice"]]["muted"] is True
        assert listed[s["bob smith"]]["hold"] is True
        assert listed[s["carol"]]["coaching"] is True

    def test_paging_page_by_page(self, r):
        pages = r.a.pages(r.cf, page_size=2)
        assert [len(p) for p in pages] == [2, 2, 1]
        got = [q["call_sid"] for page in pages for q in page]
        assert len(got) == len(set(got)) == len(LABELS)
        assert set(got) == set(r.sid.values())

    def test_paging_keeps_filter(self, r):
        muted = {r.sid[x] for x in ("alice", "carol", "erin")}
        for sid in muted:
            r.a.update_participant(r.cf, sid, muted=True)
        pages = r.a.pages(r.cf, page_size=1, muted=True)
        assert [len(p) for p in pages] == [1, 1, 1], "next_page_uri must carry Muted=true"
        assert {q["call_sid"] for page in pages for q in page} == muted
        assert all(q["muted"] is True for page in pages for q in page)

    def test_paging_client_iteration(self, r):
        listed = r.a.list_participants(r.cf, page_size=2)
        assert sorted(q["call_sid"] for q in listed) == sorted(r.sid.values())
        streamed = r.a.stream_participants(r.cf, page_size=2)
        assert sorted(q["call_sid"] for q in streamed) == sorted(r.sid.values())
        limited = r.a.list_participants(r.cf, page_size=2, limit=3)
        assert len(limited) == 3 and len({q["call_sid"] for q in limited}) == 3
        r.a.update_participant(r.cf, r.sid["dave"], hold=True)
        r.a.update_participant(r.cf, r.sid["erin"], hold=True)
        held = r.a.list_participants(r.cf, page_size=1, hold=True)
        assert sorted(q["call_sid"] for q in held) == sorted([r.sid["dave"], r.sid["erin"]])

    def test_page_size_too_large(self, r):
        status, code = r.a.expect_error(lambda: r.a.pages(r.cf, page_size=1001))
        # Twilio: 400/20007. SignalWire documents 422 for validation errors (signalwire-laml.md).
        assert status in ((400,) if r.prefix == TWILIO_PREFIX else (400, 422)), status
        assert code in (20007, None)  # some clients drop the code for list errors

    # ------------------------------------------------------------------ update
    def test_update_every_field(self, r):
        a, cf, erin = r.a, r.cf, r.sid["erin"]
        p = a.update_participant(cf, erin, muted=True, hold=True, hold_url=HOLD_URL, hold_method="GET",
                                 announce_url=ANNOUNCE_URL, announce_method="POST", wait_url=WAIT_URL,
                                 wait_method="GET", beep_on_exit=False, end_conference_on_exit=True)
        self.assert_participant(r, p, "erin")
        assert (p["muted"], p["hold"], p["end_conference_on_exit"]) == (True, True, True)
        f = a.fetch_participant(cf, erin)
        assert (f["muted"], f["hold"], f["end_conference_on_exit"]) == (True, True, True)

        p = a.update_participant(cf, erin, hold=False, muted=False, end_conference_on_exit=False,
                                 beep_on_exit=True, coaching=True, call_sid_to_coach=r.sid["dave"])
        assert (p["muted"], p["hold"], p["end_conference_on_exit"]) == (False, False, False)
        assert p["coaching"] is True and p["call_sid_to_coach"] == r.sid["dave"]
        f = a.fetch_participant(cf, erin)
        assert f["coaching"] is True and f["call_sid_to_coach"] == r.sid["dave"]
        assert f["status"] == r.connected_status()

        p = a.update_participant(cf, erin, coaching=False)
        assert p["coaching"] is False

    def test_update_methods_post(self, r):
        p = r.a.update_participant(r.cf, r.sid["dave"], hold_url=HOLD_URL, hold_method="POST",
                                   announce_url=ANNOUNCE_URL, announce_method="GET",
                                   wait_url=WAIT_URL, wait_method="POST")
        self.assert_participant(r, p, "dave", status=r.connected_status())

    # ------------------------------------------------------------------ labels
    def test_label_addressing(self, r):
        a = r.a
        p = a.fetch_participant(r.cf, "alice")
        self.assert_participant(r, p, "alice")  # uri carries the CallSid, not the label
        p = a.fetch_participant(r.cf, quote_label("bob smith"))
        self.assert_participant(r, p, "bob smith")
        p = a.update_participant(r.cf, quote_label("bob smith"), muted=True)
        assert p["call_sid"] == r.sid["bob smith"] and p["muted"] is True
        assert a.fetch_participant(r.cf, r.sid["bob smith"])["muted"] is True
        p = a.update_participant(r.cf, "alice", hold=True)
        assert p["call_sid"] == r.sid["alice"] and p["hold"] is True

    # ------------------------------------------------------------------ delete
    def test_delete_participant(self, r):
        a = r.a
        p = a.create_participant(r.cf, FROM, "sim:frank")
        assert p["conference_sid"] == r.cf  # created on the CF sid, not on the name
        wait_until(lambda: a.fetch_participant(r.cf, p["call_sid"])["status"] == r.connected_status(),
                   what="frank connected")
        assert a.delete_ok(a.delete_participant(r.cf, p["call_sid"]))
        assert a.expect_error(lambda: a.fetch_participant(r.cf, p["call_sid"])) == (404, 20404)
        assert p["call_sid"] not in [q["call_sid"] for q in a.list_participants(r.cf)]
        assert a.fetch_conference(r.cf)["status"] == "in-progress"

    def test_delete_by_label_with_space(self, r):
        a = r.a
        label = unique("gina x")
        p = a.create_participant(r.name, FROM, "sim:gina", label=label)
        assert p["conference_sid"] == r.cf  # same active conference found by FriendlyName
        assert a.delete_ok(a.delete_participant(r.cf, quote_label(label)))
        assert a.expect_error(lambda: a.fetch_participant(r.cf, p["call_sid"])) == (404, 20404)

    # ------------------------------------------------------------------ errors
    def test_error_unknown_participant(self, r):
        a = r.a
        ghost = unknown_sid(r.style, "CA")
        assert a.expect_error(lambda: a.fetch_participant(r.cf, ghost)) == (404, 20404)
        assert a.expect_error(lambda: a.update_participant(r.cf, ghost, muted=True)) == (404, 20404)
        assert a.expect_error(lambda: a.delete_participant(r.cf, ghost)) == (404, 20404)
        assert a.expect_error(lambda: a.fetch_participant(r.cf, "no-such-label")) == (404, 20404)

    def test_error_unknown_conference(self, r):
        ghost = unknown_sid(r.style, "CF")
        assert r.a.expect_error(lambda: r.a.fetch_conference(ghost)) == (404, 20404)

    def test_error_wrong_token(self, r):
        bad = r.a.with_token("0" * 32)
        assert bad.expect_error(lambda: bad.fetch_conference(r.cf)) == (401, 20003)
        assert bad.expect_error(lambda: bad.update_participant(r.cf, r.sid["alice"], muted=True)) == (401, 20003)
        assert r.a.fetch_participant(r.cf, r.sid["alice"])["muted"] is False

    def test_error_coaching_without_call_sid_to_coach(self, r):
        status, code = r.a.expect_error(lambda: r.a.update_participant(r.cf, r.sid["alice"], coaching=True))
        assert status == 400
        assert code == 20422

    def test_error_coach_participant_on_hold(self, r):
        a = r.a
        a.update_participant(r.cf, r.sid["bob smith"], hold=True)
        status, code = a.expect_error(lambda: a.update_participant(
            r.cf, r.sid["carol"], coaching=True, call_sid_to_coach=r.sid["bob smith"]))
        assert (status, code) == (400, 16027)
        assert a.fetch_participant(r.cf, r.sid["carol"])["coaching"] is False

    def test_error_coach_participant_not_present(self, r):
        ghost = unknown_sid(r.style, "CA")
        status, code = r.a.expect_error(lambda: r.a.update_participant(
            r.cf, r.sid["carol"], coaching=True, call_sid_to_coach=ghost))
        assert (status, code) == (400, 16028)


def assert_datetime(value):
    """For clients that parse dates (twilio-python): a timezone-aware/naive datetime near now."""
    assert isinstance(value, dt.datetime), "date not parsed by the client: %r" % (value,)
    now = dt.datetime.now(dt.timezone.utc)
    v = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    assert abs((now - v).total_seconds()) < 86400, value
