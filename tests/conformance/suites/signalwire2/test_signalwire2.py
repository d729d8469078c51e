"""signalwire 2.x (PyPI `signalwire`, REST client = twilio-python 6.54) against confab over HTTPS
with the generated self-signed certificate (plus one plain-HTTP smoke test)."""
import urllib.parse

import twilio
from signalwire.request_validator import RequestValidator as SignalWireRequestValidator
from signalwire.rest import Client

from conformance_common import TWILIO_PREFIX, load_config
from calls_scenario import CallsScenario
from scenario import Scenario
from status_callbacks_scenario import StatusCallbackScenario, twilio_validator
from twilio_adapter import TwilioAdapter

SUITE = "signalwire2"


def build_client(sid, token, http_client, base_url):
    # signalwire_space_url takes host[:port]; the client forces https:// onto it.
    host = urllib.parse.urlsplit(base_url).netloc
    return Client(sid, token, signalwire_space_url=host, http_client=http_client)


def make_adapter(cfg, acct, prefix, variant, base_url=None):
    return TwilioAdapter(cfg, acct, prefix, variant, SUITE, base_url or cfg["https_url"], build_client)


class TestSignalWire2(Scenario):
    make_adapter = staticmethod(make_adapter)
    has_queue_time = False  # twilio-python 6.54 has no queue_time attribute

    def test_default_base_url_is_https(self):
        cfg = load_config()
        c = Client("x", "y", signalwire_space_url=urllib.parse.urlsplit(cfg["http_url"]).netloc)
        assert c.api.base_url.startswith("https://")


class TestSignalWire2Calls(CallsScenario):
    make_adapter = staticmethod(make_adapter)


class TestSignalWire2StatusCallbacks(StatusCallbackScenario):
    make_adapter = staticmethod(make_adapter)
    # the library's own validator (signalwire.request_validator, which checks a form body as
    # Twilio does) beside twilio-python 6.54's
    validators = (("signalwire.request_validator", SignalWireRequestValidator),
                  ("twilio.request_validator", twilio_validator))


def test_library_versions():
    assert twilio.__version__ == "6.54.0", twilio.__version__


def test_plain_http_smoke():
    cfg = load_config()
    a = make_adapter(cfg, cfg["accounts"]["signalwire"], TWILIO_PREFIX, "http-smoke", base_url=cfg["http_url"])
    assert a.list_conferences(friendly_name="no-such-room") == []
