"""Adapter over the generated twilio-python API, shared by twilio 9.x and by signalwire 2.x
(whose REST client is twilio-python 6.54). Returns what the client parsed."""
import urllib.parse

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient

from conformance_common import LAML_PREFIX, Capture

PARTICIPANT_FIELDS = ["account_sid", "call_sid", "label", "call_sid_to_coach", "coaching", "conference_sid",
                      "date_created", "date_updated", "end_conference_on_exit", "muted", "hold",
                      "start_conference_on_enter", "status", "queue_time", "uri"]
CONFERENCE_FIELDS = ["account_sid", "date_created", "date_updated", "api_version", "friendly_name", "region", "sid",
                     "status", "uri", "subresource_uris", "reason_conference_ended", "call_sid_ending_conference"]
CALL_FIELDS = ["sid", "account_sid", "parent_call_sid", "to", "status", "start_time", "end_time", "duration",
               "direction", "api_version", "answered_by", "forwarded_from", "caller_name", "date_created",
               "date_updated", "uri", "subresource_uris"]
MISSING = "<attribute missing in client>"


class CapturingHttpClient(TwilioHttpClient):
    """The library's own HTTP client, recording every response it hands back to the library."""

    def __init__(self, capture, variant, ca_file=None, **kw):
        super().__init__(**kw)
        self.capture = capture
        self.variant = variant
        self.last_status = None
        if ca_file:
            # twilio-py 9 merges REQUESTS_CA_BUNDLE over session.verify unless trust_env is off;
            # twilio-py 6.54 uses session.send() and never reads the env.
            self.session.trust_env = False
            self.session.verify = ca_file

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False):
        resp = super().request(method, url, params=params, data=data, headers=headers, auth=auth,
                               timeout=timeout, allow_redirects=allow_redirects)
        full = url + ("?" + urllib.parse.urlencode(params, doseq=True) if params else "")
        self.capture.record(method, full, resp.status_code, resp.text, self.variant)
        self.last_status = resp.status_code
        return resp


class TwilioAdapter:
    Error = (TwilioRestException, TwilioException)

    def __init__(self, cfg, acct, prefix, variant, suite, base_url, build_client, token=None):
        """build_client(sid, token, http_client, base_url) -> client object with .api/.conferences."""
        self.cfg, self.acct, self.prefix, self.variant, self.suite = cfg, acct, prefix, variant, suite
        self.base_url = base_url
        self.build_client = build_client
        self.account_sid = acct["sid"]
        self.token = token or acct["auth_token"]
        ca = cfg["ca_file"] if base_url.startswith("https") else None
        self.http = CapturingHttpClient(Capture(cfg["capture_file"], suite), variant, ca_file=ca)
        self.client = build_client(self.account_sid, self.token, self.http, base_url)
        self.client.api.base_url = base_url  # scheme+host+port only; never a path
        if prefix == LAML_PREFIX:
            self.client.api.v2010.version = LAML_PREFIX
        self.last_create_status = None

    def with_token(self, token):
        return TwilioAdapter(self.cfg, self.acct, self.prefix, self.variant, self.suite, self.base_url,
                             self.build_client, token=token)

    # ------------------------------------------------------------ conversions
    @staticmethod
    def p(inst):
        return {k: getattr(inst, k, MISSING if k != "queue_time" else None) for k in PARTICIPANT_FIELDS}

    @staticmethod
    def c(inst):
        return {k: getattr(inst, k, MISSING) for k in CONFERENCE_FIELDS}

    @staticmethod
    def call(inst):
        d = {k: getattr(inst, k, MISSING) for k in CALL_FIELDS}
        # twilio-python 6.x: `from_`; 9.x: `_from` (its `from_` is not generated)
        d["from"] = getattr(inst, "from_", getattr(inst, "_from", MISSING))
        return d

    def assert_date(self, value):
        from scenario import assert_datetime
        assert_datetime(value)

    def delete_ok(self, value):
        return value is True

    def error_of(self, e):
        if isinstance(e, TwilioRestException):
            return e.status, e.code
        # list errors: TwilioException('Unable to fetch page', response) -- no code
        resp = e.args[1] if len(e.args) > 1 else None
        return getattr(resp, "status_code", None), None

    def expect_error(self, fn):
        try:
            fn()
        except self.Error as e:
            return self.error_of(e)
        raise AssertionError("the client reported success where an error was expected")

    # ------------------------------------------------------------ participants
    def participants(self, conf):
        return self.client.conferences(conf).participants

    def create_participant(self, conf, from_, to, **kw):
        inst = self.participants(conf).create(from_=from_, to=to, **kw)
        self.last_create_status = self.http.last_status
        return self.p(inst)

    def fetch_participant(self, conf, ident):
        return self.p(self.participants(conf)(ident).fetch())

    def update_participant(self, conf, ident, **kw):
        return self.p(self.participants(conf)(ident).update(**kw))

    def delete_participant(self, conf, ident):
        return self.participants(conf)(ident).delete()

    def list_participants(self, conf, limit=None, page_size=None, **filters):
        return [self.p(x) for x in self.participants(conf).list(limit=limit, page_size=page_size, **filters)]

    def stream_participants(self, conf, limit=None, page_size=None, **filters):
        return [self.p(x) for x in self.participants(conf).stream(limit=limit, page_size=page_size, **filters)]

    def pages(self, conf, page_size, **filters):
        out = []
        page = self.participants(conf).page(page_size=page_size, **filters)
        while page is not None:
            out.append([self.p(x) for x in page])
            assert len(out) < 50, "paging does not terminate"
            page = page.next_page()
        return out

    # ------------------------------------------------------------ conferences
    def fetch_conference(self, sid):
        return self.c(self.client.conferences(sid).fetch())

    def list_conferences(self, **filters):
        return [self.c(x) for x in self.client.conferences.list(**filters)]

    def update_conference(self, sid, **kw):
        return self.c(self.client.conferences(sid).update(**kw))

    # ------------------------------------------------------------ calls
    def create_call(self, to, from_, **kw):
        inst = self.client.calls.create(to=to, from_=from_, **kw)
        self.last_create_status = self.http.last_status
        return self.call(inst)

    def fetch_call(self, sid):
        return self.call(self.client.calls(sid).fetch())

    def update_call(self, sid, **kw):
        return self.call(self.client.calls(sid).update(**kw))

    def delete_call(self, sid):
        return self.client.calls(sid).delete()

    def list_calls(self, limit=None, page_size=None, **filters):
        return [self.call(x) for x in self.client.calls.list(limit=limit, page_size=page_size, **filters)]

    def stream_calls(self, limit=None, page_size=None, **filters):
        return [self.call(x) for x in self.client.calls.stream(limit=limit, page_size=page_size, **filters)]

    def call_pages(self, page_size, **filters):
        out = []
        page = self.client.calls.page(page_size=page_size, **filters)
        while page is not None:
            out.append([self.call(x) for x in page])
            assert len(out) < 50, "paging does not terminate"
            page = page.next_page()
        return out
