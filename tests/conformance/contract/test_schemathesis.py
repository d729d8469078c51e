"""Schemathesis, driven by Twilio's OpenAPI file, against the running confab.

The operations confab serves: every path of the conference file plus the voice file's Calls and
Calls/{Sid} (IncomingPhoneNumbers, top-level and call Recordings are not served yet), with the voice
file's components (a superset).
Real credentials and real path values: a twilio-style account (the spec's `^AC…` patterns), a live
conference (CF…) with participants, a target participant (CA…) and a live call made through the
Calls resource, each re-created whenever a generated request removed it (DELETE,
EndConferenceOnExit, Status=completed…). Positive and
negative cases (generation mode "all"), bounded by MAX_EXAMPLES per operation and phase.
Checks: not_a_server_error and response_schema_conformance only (the spec documents 2xx bodies).

Safety: every URL-valued field a request could make the server fetch or call back (…Url,
…Callback) is pointed at a closed loopback port, and `To` always dials the built-in simulator,
so no generated request makes confab reach beyond 127.0.0.1. Calls get no `Url` anywhere else.

The run's counts go to target/conformance/schemathesis-stats.json (the harness prints them).
"""
import collections
import json
import os
import re
import time

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import response_schema_conformance

from openapi_contract import load_spec

CFG = json.load(open(os.environ["CONFAB_CONFORMANCE_CONFIG"]))
BASE = CFG["http_url"]
ACCT = CFG["accounts"]["twilio"]
AUTH = (ACCT["sid"], ACCT["auth_token"])
MAX_EXAMPLES = int(os.environ.get("CONFAB_SCHEMATHESIS_MAX_EXAMPLES", "20"))
# Calls have many more parameters (36 on create, 10 list filters): the coverage phase alone makes ~500
# cases of them, so Calls run the examples and fuzzing phases only, which keeps the run time as it was.
CALLS_MAX_EXAMPLES = int(os.environ.get("CONFAB_SCHEMATHESIS_CALLS_MAX_EXAMPLES", "15"))
SAFE_URL = "http://127.0.0.1:9/schemathesis"
URL_FIELD = re.compile(r"(Url|Callback)$")
STATS = collections.Counter()
STATUS = collections.defaultdict(collections.Counter)
REJECTED_POSITIVE = collections.defaultdict(list)  # op -> a few positive cases the server refused

# The specs as the contract check reads them (reason_conference_ended nullable, see openapi_contract.PATCHES).
CALLS_PATHS = ("/2010-04-01/Accounts/{AccountSid}/Calls.json", "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json")
SPEC = load_spec(CFG.get("voice_spec") or os.path.join(os.path.dirname(CFG["spec"]), "twilio_api_v2010_voice.json"))
_served = set(load_spec(CFG["spec"])["paths"]) | set(CALLS_PATHS)
SPEC["paths"] = {k: v for k, v in SPEC["paths"].items() if k in _served}
assert set(CALLS_PATHS) <= set(SPEC["paths"]) and not any("IncomingPhoneNumbers" in k for k in SPEC["paths"])


def _prune_components(spec):
    """Keeps only the component schemas the kept paths reach (less for schemathesis to load)."""
    schemas, keep, todo = spec["components"]["schemas"], set(), [spec["paths"]]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in keep:
                    keep.add(name)
                    todo.append(schemas[name])
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    spec["components"]["schemas"] = {k: v for k, v in schemas.items() if k in keep}


_prune_components(SPEC)
PAUSE = '<Response><Pause length="300"/></Response>'


def _schema(max_examples, coverage=True):
    config = SchemathesisConfig.from_dict({
        "seed": 20100401,
        "generation": {"mode": "all", "max-examples": max_examples},
        "phases": {"stateful": {"enabled": False}, "coverage": {"enabled": coverage}},
    })
    return schemathesis.openapi.from_dict(SPEC, config=config)


schema = _schema(MAX_EXAMPLES).exclude(path_regex="/Calls")
calls_schema = _schema(CALLS_MAX_EXAMPLES, coverage=False).include(path_regex="/Calls")


class Fixtures:
    """A live conference with two anchors and one target participant, re-created on demand."""

    def __init__(self):
        self.s = requests.Session()
        self.s.auth = AUTH
        self.s.trust_env = False
        self.cf = None
        self.ca = None
        self.call = None
        self.label = "fuzz target"

    def url(self, tail):
        return "%s/2010-04-01/Accounts/%s/%s" % (BASE, ACCT["sid"], tail)

    def create(self, conf, to, **extra):
        data = {"From": "+15005550006", "To": to, **extra}
        r = self.s.post(self.url("Conferences/%s/Participants.json" % conf), data=data, timeout=30)
        assert r.status_code == 201, "fixture participant create failed: %d %s" % (r.status_code, r.text)
        return r.json()

    def ensure(self):
        if self.cf:
            r = self.s.get(self.url("Conferences/%s.json" % self.cf), timeout=30)
            if r.status_code != 200 or r.json().get("status") == "completed":
                self.cf = None
        if not self.cf:
            name = "schemathesis-%d" % time.monotonic_ns()
            self.cf = self.create(name, "sim:anchor1")["conference_sid"]
            self.create(self.cf, "sim:anchor2")
            self.ca = None
        if self.ca:
            r = self.s.get(self.url("Conferences/%s/Participants/%s.json" % (self.cf, self.ca)), timeout=30)
            if r.status_code != 200:
                self.ca = None
        if not self.ca:
            self.label = "fuzz target %d" % time.monotonic_ns()
            self.ca = self.create(self.cf, "sim:target", Label=self.label)["call_sid"]

    def ensure_call(self):
        """A live call of the Calls resource (its TwiML pauses), for /Calls/{Sid}."""
        if self.call:
            r = self.s.get(self.url("Calls/%s.json" % self.call), timeout=30)
            if r.status_code != 200 or r.json().get("status") not in ("queued", "ringing", "in-progress"):
                self.call = None
        if not self.call:
            r = self.s.post(self.url("Calls.json"), data={"From": "+15005550006", "To": "sim:fuzzcall",
                                                            "Twiml": PAUSE}, timeout=30)
            assert r.status_code == 201, "fixture call create failed: %d %s" % (r.status_code, r.text)
            self.call = r.json()["sid"]


FIX = Fixtures()


def sanitize(body):
    if isinstance(body, dict):
        for k in list(body):
            if isinstance(k, str) and URL_FIELD.search(k):
                body[k] = SAFE_URL
            elif k == "To":
                body[k] = "sim:fuzz"
    return body


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=MAX_EXAMPLES)
def test_api(case):
    run_case(case)


@calls_schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=CALLS_MAX_EXAMPLES)
def test_calls_api(case):
    run_case(case)


def run_case(case):
    FIX.ensure()
    pp = case.path_parameters
    pp["AccountSid"] = ACCT["sid"]
    if "ConferenceSid" in pp:
        pp["ConferenceSid"] = FIX.cf
    if "CallSid" in pp:
        pp["CallSid"] = FIX.ca
    if "Sid" in pp and "/Conferences/{Sid}" in case.operation.path:
        pp["Sid"] = FIX.cf
    if "Sid" in pp and "/Calls/{Sid}" in case.operation.path:
        FIX.ensure_call()
        pp["Sid"] = FIX.call
    case.body = sanitize(case.body)
    op = "%s %s" % (case.method.upper(), case.operation.path)
    STATS[op] += 1
    resp = case.call(base_url=BASE, auth=AUTH, timeout=30)
    STATUS[op][resp.status_code] += 1
    mode = str(getattr(getattr(getattr(case, "meta", None), "generation", None), "mode", ""))
    if resp.status_code in (400, 422) and mode.lower().endswith("positive") and len(REJECTED_POSITIVE[op]) < 5:
        REJECTED_POSITIVE[op].append({"query": case.query, "body": case.body, "response": resp.text[:300]})
    case.validate_response(resp, checks=[not_a_server_error, response_schema_conformance])


def test_report():
    """Writes and prints the case counts; fails if the fuzz run did not exercise every operation."""
    total = sum(STATS.values())
    report = {"cases": total, "max_examples": MAX_EXAMPLES, "calls_max_examples": CALLS_MAX_EXAMPLES,
              "per_operation": dict(STATS),
              "statuses": {k: dict(v) for k, v in STATUS.items()},
              "positive_cases_rejected_samples": dict(REJECTED_POSITIVE)}
    with open(os.path.join(CFG["out_dir"], "schemathesis-stats.json"), "w") as f:
        json.dump(report, f, indent=1, sort_keys=True, default=repr)
    print("schemathesis: %d cases over %d operations" % (total, len(STATS)))
    documented = {"%s %s" % (m.upper(), path) for path, item in SPEC["paths"].items()
                  for m in item if m in ("get", "post", "delete")}
    assert documented <= set(STATS), "operations never exercised: %s" % sorted(documented - set(STATS))
