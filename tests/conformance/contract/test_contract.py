"""Contract check over every response body the client suites captured.

Twilio dialect (/2010-04-01/...): the body must validate against the 2xx response schema of the
matching operation in Twilio's OpenAPI file (list envelopes included), with the list-envelope
rules the clients rely on; error bodies must be exactly {code, message, more_info, status}.
LaML dialect (/api/laml/2010-04-01/...): the SignalWire seed schema (signalwire-laml.md).
One test per (suite, dialect, operation); a failure lists every offending response.
"""
import collections
import glob
import json
import os

import pytest

from openapi_contract import PATCHES, ContractRouter, check_capture, to_json_schema, FORMAT_CHECKER

import jsonschema

CFG = json.load(open(os.environ["CONFAB_CONFORMANCE_CONFIG"]))
# Calls paths against the voice spec (api.v2010.account.call), the rest against the conference spec
CONTRACT = ContractRouter(CFG["spec"], CFG.get("voice_spec") or os.path.join(os.path.dirname(CFG["spec"]),
                                                                             "twilio_api_v2010_voice.json"))
MAX_SHOWN = 15


def load_captures():
    caps = []
    path = CFG["captures"]
    if os.path.exists(path):
        with open(path) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if line:
                    cap = json.loads(line)
                    cap["line"] = n
                    caps.append(cap)
    return caps


def uuid_accounts():
    accts = set()
    for p in glob.glob(os.path.join(CFG["out_dir"], "config-*.json")):
        with open(p) as f:
            for a in json.load(f)["accounts"].values():
                if a["style"] != "twilio":
                    accts.add(a["sid"])
    return accts


CAPTURES = load_captures()
UUIDS = uuid_accounts()
GROUPS = collections.defaultdict(list)
for _cap in CAPTURES:
    _dialect, _op, _problems = check_capture(CONTRACT, _cap, UUIDS)
    if _dialect == "other":
        continue
    kind = "error" if _cap["status"] >= 400 else (_op or "unmatched")
    GROUPS[(_cap["suite"], _dialect, kind)].append((_cap, _problems))


def describe(cap, problems):
    return "  #%d %s %s -> %d [%s]\n      %s\n      body: %s" % (
        cap["line"], cap["method"], cap["url"], cap["status"], cap.get("variant"),
        "\n      ".join(problems), (cap["body"] or "")[:400])


@pytest.mark.parametrize("key", sorted(GROUPS), ids=["%s/%s/%s" % k for k in sorted(GROUPS)])
def test_captured_responses(key):
    items = GROUPS[key]
    bad = [(c, p) for c, p in items if p]
    if bad:
        shown = "\n".join(describe(c, p) for c, p in bad[:MAX_SHOWN])
        more = "" if len(bad) <= MAX_SHOWN else "\n  ... and %d more" % (len(bad) - MAX_SHOWN)
        pytest.fail("%d of %d captured %s responses violate the contract:\n%s%s"
                    % (len(bad), len(items), "/".join(key), shown, more), pytrace=False)


def test_captures_were_recorded():
    """Every suite that ran in this harness run must have contributed captured responses."""
    suites = {c["suite"] for c in CAPTURES}
    assert CAPTURES, "no captured responses at %s" % CFG["captures"]
    ran = set()
    for p in glob.glob(os.path.join(CFG["out_dir"], "config-*.json")):
        with open(p) as f:
            name = json.load(f)["suite"]
        if name not in ("contract", "schemathesis"):
            ran.add(name)
    assert ran <= suites, "suites without captured responses: %s" % sorted(ran - suites)
    print("validated %d captured responses from %s" % (len(CAPTURES), sorted(suites)))


def test_every_participant_conference_and_call_operation_seen():
    want = {"FetchConference", "UpdateConference", "ListConference", "FetchParticipant", "UpdateParticipant",
            "DeleteParticipant", "CreateParticipant", "ListParticipant",
            "CreateCall", "FetchCall", "ListCall", "UpdateCall", "DeleteCall"}
    for dialect in ("twilio", "laml"):
        seen = {k[2] for k in GROUPS if k[1] == dialect}
        assert want <= seen, "%s dialect: never saw %s" % (dialect, sorted(want - seen))


@pytest.mark.parametrize("op", [o for o in CONTRACT.operations if o.examples], ids=lambda o: o.operation_id)
def test_spec_examples_validate(op):
    """Self-check: our OpenAPI->JSON Schema conversion accepts Twilio's own examples."""
    problems = []
    for status, name, value in op.examples:
        v = jsonschema.Draft7Validator(to_json_schema(op.success[status], op.spec), format_checker=FORMAT_CHECKER)
        for err in v.iter_errors(value):
            problems.append("%s: %s: %s" % (name, "/".join(map(str, err.absolute_path)), err.message[:200]))
    assert not problems, "spec examples rejected (patches: %s):\n%s" % (PATCHES, "\n".join(problems))
