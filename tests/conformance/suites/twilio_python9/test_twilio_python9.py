"""twilio-python 9.x (PyPI `twilio`) against confab over plain HTTP (plus one HTTPS smoke test)."""
import twilio
from twilio.rest import Client

from conformance_common import TWILIO_PREFIX, load_config
from calls_scenario import CallsScenario
from scenario import Scenario
from status_callbacks_scenario import StatusCallbackScenario
from twilio_adapter import TwilioAdapter

SUITE = "twilio-python9"


def build_client(sid, token, http_client, base_url):
    # A UUID account SID works as-is: twilio-python does not check the AC prefix.
    return Client(sid, token, http_client=http_client)


def make_adapter(cfg, acct, prefix, variant, base_url=None):
    return TwilioAdapter(cfg, acct, prefix, variant, SUITE, base_url or cfg["http_url"], build_client)


class TestTwilioPython9(Scenario):
    make_adapter = staticmethod(make_adapter)
    has_queue_time = True


class TestTwilioPython9Calls(CallsScenario):
    make_adapter = staticmethod(make_adapter)


class TestTwilioPython9StatusCallbacks(StatusCallbackScenario):
    make_adapter = staticmethod(make_adapter)


def test_library_version():
    assert twilio.__version__.startswith("9."), twilio.__version__


def test_https_smoke():
    cfg = load_config()
    a = make_adapter(cfg, cfg["accounts"]["twilio"], TWILIO_PREFIX, "https-smoke", base_url=cfg["https_url"])
    assert a.list_conferences(friendly_name="no-such-room") == []
