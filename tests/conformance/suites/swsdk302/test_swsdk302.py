"""signalwire-sdk 3.0.2 `client.compat` (the last line with a Compatibility namespace) against
confab over HTTPS with the generated certificate (plus one plain-HTTP smoke test).

The SDK has no create-participant and no paging helper: participants are created with a plain
JSON POST through the SDK's own HTTP layer, and pages are followed by hand via next_page_uri."""
import datetime as dt
import importlib.metadata

from signalwire.rest import RestClient
from signalwire.rest._base import SignalWireRestError

from conformance_common import (LAML_PREFIX, TWILIO_PREFIX, Capture, is_rfc2822_gmt, load_config)
from calls_scenario import CallsScenario
from scenario import Scenario
from status_callbacks_scenario import StatusCallbackScenario

SUITE = "signalwire-sdk302"
PASCAL = {"muted": "Muted", "hold": "Hold", "hold_url": "HoldUrl", "hold_method": "HoldMethod",
          "announce_url": "AnnounceUrl", "announce_method": "AnnounceMethod", "wait_url": "WaitUrl",
          "wait_method": "WaitMethod", "beep_on_exit": "BeepOnExit",
          "end_conference_on_exit": "EndConferenceOnExit", "coaching": "Coaching",
          "call_sid_to_coach": "CallSidToCoach", "label": "Label",
          "start_conference_on_enter": "StartConferenceOnEnter", "page_size": "PageSize",
          "friendly_name": "FriendlyName", "status": "Status",
          # Calls
          "to": "To", "from_": "From", "twiml": "Twiml", "url": "Url", "method": "Method",
          "parent_call_sid": "ParentCallSid", "start_time_after": "StartTime>", "start_time_before": "StartTime<",
          "start_time": "StartTime", "timeout": "Timeout", "status_callback": "StatusCallback",
          # status callbacks (Participants and Calls create)
          "status_callback_event": "StatusCallbackEvent", "beep": "Beep",
          "conference_status_callback": "ConferenceStatusCallback",
          "conference_status_callback_event": "ConferenceStatusCallbackEvent"}
PARTICIPANT_FIELDS = ["account_sid", "call_sid", "label", "call_sid_to_coach", "coaching", "conference_sid",
                      "date_created", "date_updated", "end_conference_on_exit", "muted", "hold",
                      "start_conference_on_enter", "status", "queue_time", "uri"]
CALL_FIELDS = ["sid", "account_sid", "parent_call_sid", "to", "from", "status", "start_time", "end_time", "duration",
               "direction", "api_version", "answered_by", "forwarded_from", "caller_name", "date_created",
               "date_updated", "uri", "subresource_uris"]
MISSING = "<field missing in response>"


def pascal(kw):
    # the SDK sends what it is given; a user types dates as YYYY-MM-DD
    return {PASCAL[k]: v.isoformat() if isinstance(v, dt.date) else v for k, v in kw.items()}


class SdkAdapter:
    Error = SignalWireRestError

    def __init__(self, cfg, acct, prefix, variant, base_url=None, token=None):
        self.cfg, self.acct, self.prefix, self.variant = cfg, acct, prefix, variant
        self.base_url = base_url or cfg["https_url"]
        self.account_sid = acct["sid"]
        host = self.base_url.split("://", 1)[1]
        self.client = RestClient(project=self.account_sid, token=token or acct["auth_token"], host=host)
        http = self.client._http
        http._base_url = self.base_url  # 3.0.x forces https://{host}; no public knob
        if self.base_url.startswith("https"):
            http._session.trust_env = False  # else REQUESTS_CA_BUNDLE wins over verify
            http._session.verify = cfg["ca_file"]
        self.capture = Capture(cfg["capture_file"], SUITE)
        self.last_status = None
        http._session.hooks["response"].append(self._record)
        self.conf = self.client.compat.conferences
        if prefix == TWILIO_PREFIX:
            # the only way to reach the Twilio prefix: the resource's base path
            self.conf._base_path = "/%s/Accounts/%s/Conferences" % (TWILIO_PREFIX, self.account_sid)
        self.calls = self.client.compat.calls
        if prefix == TWILIO_PREFIX:
            self.calls._base_path = "/%s/Accounts/%s/Calls" % (TWILIO_PREFIX, self.account_sid)
        assert self.conf._base_path.startswith("/" + prefix + "/")
        assert self.calls._base_path.startswith("/" + prefix + "/")
        self.last_create_status = None

    def _record(self, resp, *args, **kwargs):
        self.last_status = resp.status_code
        self.capture.record(resp.request.method, resp.url, resp.status_code, resp.text, self.variant)

    def with_token(self, token):
        return SdkAdapter(self.cfg, self.acct, self.prefix, self.variant, self.base_url, token=token)

    # ------------------------------------------------------------ helpers
    @staticmethod
    def p(d):
        return {k: d.get(k, MISSING) for k in PARTICIPANT_FIELDS}

    def assert_date(self, value):
        assert is_rfc2822_gmt(value), value

    def delete_ok(self, value):
        return value == {} and self.last_status == 204

    def error_of(self, e):
        body = e.body if isinstance(e.body, dict) else {}
        return e.status_code, body.get("code")

    def expect_error(self, fn):
        try:
            fn()
        except SignalWireRestError as e:
            return self.error_of(e)
        raise AssertionError("the client reported success where an error was expected")

    def follow(self, first, key):
        """Yields pages (lists of dicts), following next_page_uri through the SDK's HTTP layer."""
        page = first
        n = 0
        while True:
            yield page[key]
            n += 1
            assert n < 50, "paging does not terminate"
            nxt = page.get("next_page_uri")
            if not nxt:
                return
            assert nxt.startswith("/"), nxt
            page = self.client._http.get(nxt)

    # ------------------------------------------------------------ participants
    def create_participant(self, conf, from_, to, **kw):
        body = {"From": from_, "To": to}
        body.update(pascal(kw))
        d = self.client._http.post(self.conf._path(conf, "Participants"), body=body)
        self.last_create_status = self.last_status
        return self.p(d)

    def fetch_participant(self, conf, ident):
        return self.p(self.conf.get_participant(conf, ident))

    def update_participant(self, conf, ident, **kw):
        return self.p(self.conf.update_participant(conf, ident, **pascal(kw)))

    def delete_participant(self, conf, ident):
        return self.conf.remove_participant(conf, ident)

    def pages(self, conf, page_size, **filters):
        first = self.conf.list_participants(conf, PageSize=page_size, **pascal(filters))
        return [[self.p(x) for x in page] for page in self.follow(first, "participants")]

    def list_participants(self, conf, limit=None, page_size=None, **filters):
        params = pascal(filters)
        if page_size:
            params["PageSize"] = page_size
        out = []
        for page in self.follow(self.conf.list_participants(conf, **params), "participants"):
            out.extend(self.p(x) for x in page)
            if limit is not None and len(out) >= limit:
                return out[:limit]
        return out

    stream_participants = list_participants

    # ------------------------------------------------------------ conferences
    def fetch_conference(self, sid):
        return self.conf.get(sid)

    def list_conferences(self, **filters):
        out = []
        for page in self.follow(self.conf.list(**pascal(filters)), "conferences"):
            out.extend(page)
        return out

    def update_conference(self, sid, **kw):
        return self.conf.update(sid, **{{"status": "Status", "announce_url": "AnnounceUrl",
                                         "announce_method": "AnnounceMethod"}[k]: v for k, v in kw.items()})


    # ------------------------------------------------------------ calls (client.compat.calls)
    @staticmethod
    def call(d):
        return {k: d.get(k, MISSING) for k in CALL_FIELDS}

    def create_call(self, to, from_, **kw):
        d = self.calls.create(To=to, From=from_, **pascal(kw))
        self.last_create_status = self.last_status
        return self.call(d)

    def fetch_call(self, sid):
        return self.call(self.calls.get(sid))

    def update_call(self, sid, **kw):
        return self.call(self.calls.update(sid, **pascal(kw)))

    def delete_call(self, sid):
        return self.calls.delete(sid)

    def call_pages(self, page_size, **filters):
        first = self.calls.list(PageSize=page_size, **pascal(filters))
        return [[self.call(x) for x in page] for page in self.follow(first, "calls")]

    def list_calls(self, limit=None, page_size=None, **filters):
        params = pascal(filters)
        if page_size:
            params["PageSize"] = page_size
        out = []
        for page in self.follow(self.calls.list(**params), "calls"):
            out.extend(self.call(x) for x in page)
            if limit is not None and len(out) >= limit:
                return out[:limit]
        return out

    stream_calls = list_calls


class TestSignalWireSdk302(Scenario):
    make_adapter = staticmethod(lambda cfg, acct, prefix, variant: SdkAdapter(cfg, acct, prefix, variant))
    has_queue_time = True


class TestSignalWireSdk302Calls(CallsScenario):
    make_adapter = staticmethod(lambda cfg, acct, prefix, variant: SdkAdapter(cfg, acct, prefix, variant))
    date_filters_take_dates = False


class TestSignalWireSdk302StatusCallbacks(StatusCallbackScenario):
    # signalwire-sdk 3.0.x has no webhook validator: twilio's module checks the signatures
    make_adapter = staticmethod(lambda cfg, acct, prefix, variant: SdkAdapter(cfg, acct, prefix, variant))


def test_library_version():
    assert importlib.metadata.version("signalwire-sdk") == "3.0.2"


def test_plain_http_smoke():
    cfg = load_config()
    a = SdkAdapter(cfg, cfg["accounts"]["signalwire"], LAML_PREFIX, "http-smoke", base_url=cfg["http_url"])
    assert a.list_conferences(friendly_name="no-such-room") == []
