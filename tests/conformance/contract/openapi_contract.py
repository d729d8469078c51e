"""Maps captured responses to operations of Twilio's OpenAPI file and validates them.

OpenAPI 3.0 -> JSON Schema: `$ref`s are inlined, `nullable: true` becomes a `null` type.
Adjustments to the spec (each justified by the spec's own examples; listed in PATCHES):
  * `conference_enum_reason_conference_ended` also allows null: the schema references the enum
    without `nullable`, but the spec's in-progress examples carry `"reason_conference_ended": null`
    and the description says "When a conference is in progress, will be `null`".
  * list envelopes: `format: uri` is dropped from the page URIs, which every spec example gives
    as relative paths (`/2010-04-01/...`); a strict RFC 3986 check rejects those.
  * incoming phone numbers: a URL or SID field also allows '', as the spec's own examples give it
    for unset ones.
Calls and IncomingPhoneNumbers paths are validated against spec/twilio_api_v2010_voice.json
(`api.v2010.account.call`, `ListCallResponse`, `api.v2010.account.incoming_phone_number`...),
everything else against the conference file (`ContractRouter`).
For accounts with UUID SIDs (SignalWire style) addressed under /2010-04-01, the `^XX[0-9a-fA-F]{32}$`
SID patterns also accept a UUID (`uuid_sids=True`): everything else in the schema still applies.
"""
import copy
import json
import re
import urllib.parse

import jsonschema

PATCHES = [
    "conference_enum_reason_conference_ended: null allowed (spec examples and description say null while in progress)",
    "list envelopes: `format: uri` dropped from uri/first_page_uri/next_page_uri/previous_page_uri (every spec "
    "example, and every client, uses relative URIs such as /2010-04-01/...; a strict RFC 3986 'uri' rejects them)",
    "incoming_phone_number: a URL or SID field (format uri, or a SID pattern) also allows '' (the spec's own "
    "Fetch/List/Update examples give '' for an unset sms_url, status_callback, voice_application_sid...)",
]
META_KEYS = {"end", "first_page_uri", "next_page_uri", "last_page_uri", "page", "page_size", "previous_page_uri",
             "total", "num_pages", "start", "uri"}
ERROR_KEYS = {"code", "message", "more_info", "status"}
RFC2822_GMT = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                         r"\d{4} \d{2}:\d{2}:\d{2} \+0000$")
UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
SID_PATTERN = re.compile(r"^\^([A-Z]{2})\[0-9a-fA-F\]\{32\}\$$")
LAML_PARTICIPANT_REQUIRED = ["account_sid", "call_sid", "call_sid_to_coach", "coaching", "conference_sid",
                             "date_created", "status", "date_updated", "end_conference_on_exit", "muted", "hold",
                             "start_conference_on_enter", "uri"]

FORMAT_CHECKER = jsonschema.FormatChecker(formats=())


@FORMAT_CHECKER.checks("date-time-rfc-2822")
def _rfc2822(value):
    # Twilio: RFC 2822 in GMT, e.g. "Fri, 18 Feb 2011 21:07:19 +0000"
    return not isinstance(value, str) or bool(RFC2822_GMT.match(value))


@FORMAT_CHECKER.checks("uri")
def _uri(value):
    # list envelopes carry relative URIs ("/2010-04-01/...") in every spec example
    if not isinstance(value, str):
        return True
    if value.startswith("/"):
        return True
    p = urllib.parse.urlsplit(value)
    return p.scheme in ("http", "https") and bool(p.netloc)


def load_spec(path):
    with open(path) as f:
        spec = json.load(f)
    schemas = spec["components"]["schemas"]
    schemas["conference_enum_reason_conference_ended"]["nullable"] = True
    number = schemas.get("api.v2010.account.incoming_phone_number", {})
    for name, prop in list(number.get("properties", {}).items()):
        if prop.get("format") == "uri" or "pattern" in prop:
            number["properties"][name] = {"anyOf": [prop, {"type": "string", "maxLength": 0}],
                                          "nullable": bool(prop.get("nullable"))}
    for item in spec["paths"].values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            for resp in op.get("responses", {}).values():
                sch = resp.get("content", {}).get("application/json", {}).get("schema", {})
                if sch.get("title", "").startswith("List"):
                    for k in ("uri", "first_page_uri", "next_page_uri", "previous_page_uri"):
                        sch.get("properties", {}).get(k, {}).pop("format", None)
    return spec


def to_json_schema(node, spec, uuid_sids=False, seen=()):
    """Inline $refs and turn OpenAPI 3.0 `nullable` into JSON Schema."""
    if isinstance(node, list):
        return [to_json_schema(x, spec, uuid_sids, seen) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/components/schemas/"), ref
        name = ref.rsplit("/", 1)[1]
        if name in seen:
            return {}
        return to_json_schema(spec["components"]["schemas"][name], spec, uuid_sids, seen + (name,))
    out = {}
    for k, v in node.items():
        if k in ("nullable", "example", "examples", "description", "x-twilio", "title"):
            continue
        if k == "pattern" and uuid_sids and SID_PATTERN.match(v):
            out[k] = "^(%s|%s)$" % (v[1:-1], UUID)
            continue
        out[k] = to_json_schema(v, spec, uuid_sids, seen)
    if uuid_sids and out.get("type") == "string" and "pattern" in out and out.get("minLength") == 34:
        out.pop("minLength", None)
        out.pop("maxLength", None)
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else list(out["type"]) + ["null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = list(out["enum"]) + [None]
    return out


class Operation:
    def __init__(self, method, template, op, spec):
        self.method = method.upper()
        self.template = template
        self.operation_id = op["operationId"]
        segs = template[:-len(".json")] if template.endswith(".json") else template
        rx = re.sub(r"\{[^}]+\}", "[^/]+", re.escape(segs).replace(r"\{", "{").replace(r"\}", "}"))
        self.regex = re.compile("^" + rx + r"(\.json)?$")
        self.success = {}
        for code, resp in op["responses"].items():
            if not code.startswith("2"):
                continue
            content = resp.get("content", {}).get("application/json")
            self.success[int(code)] = content["schema"] if content else None
        self.spec = spec
        self._validators = {}
        self.examples = []
        for code, resp in op["responses"].items():
            for name, ex in (resp.get("content", {}).get("application/json", {}).get("examples") or {}).items():
                self.examples.append((int(code), name, ex.get("value")))

    def validator(self, status, uuid_sids):
        key = (status, uuid_sids)
        if key not in self._validators:
            schema = to_json_schema(self.success[status], self.spec, uuid_sids)
            self._validators[key] = jsonschema.Draft7Validator(schema, format_checker=FORMAT_CHECKER)
        return self._validators[key]

    def record_validator(self, uuid_sids):
        """Validator of one record: the 2xx body, or a list's item schema."""
        key = ("record", uuid_sids)
        if key not in self._validators:
            status = min(s for s in self.success if self.success[s] is not None)
            schema = self.success[status]
            lk = self.list_key()
            if lk:
                schema = schema["properties"][lk]["items"]
            self._validators[key] = jsonschema.Draft7Validator(to_json_schema(schema, self.spec, uuid_sids),
                                                               format_checker=FORMAT_CHECKER)
        return self._validators[key]

    def list_key(self):
        schema = self.success.get(200) or {}
        props = schema.get("properties", {})
        keys = [k for k, v in props.items() if v.get("type") == "array"]
        return keys[0] if len(keys) == 1 and self.operation_id.startswith("List") else None


class Contract:
    def __init__(self, spec_path):
        self.spec = load_spec(spec_path)
        self.operations = []
        for template, item in self.spec["paths"].items():
            for method, op in item.items():
                if method in ("get", "post", "delete", "put", "patch"):
                    self.operations.append(Operation(method, template, op, self.spec))

    def match(self, method, path):
        """Operation for a Twilio-dialect request path (with or without .json), or None."""
        for op in self.operations:
            if op.method == method.upper() and op.regex.match(path):
                return op
        return None

    def match_laml(self, method, path):
        if not path.startswith("/api/laml/2010-04-01/"):
            return None
        return self.match(method, path[len("/api/laml"):])


# Calls and Calls/{Sid}, IncomingPhoneNumbers and IncomingPhoneNumbers/{Sid}: described by the voice spec only
CALLS_PATH = re.compile(r"/Accounts/[^/]+/(Calls|IncomingPhoneNumbers)(/[^/]+)?(\.json)?$")


class ContractRouter:
    """Calls and IncomingPhoneNumbers paths -> the voice spec; every other path -> the conference spec."""

    def __init__(self, spec_path, voice_spec_path):
        self.default = Contract(spec_path)
        self.voice = Contract(voice_spec_path)
        self.spec = self.default.spec
        calls = [op for op in self.voice.operations if CALLS_PATH.search(op.template)]
        self.operations = calls + self.default.operations

    def pick(self, path):
        return self.voice if CALLS_PATH.search(path) else self.default

    def match(self, method, path):
        return self.pick(path).match(method, path)

    def match_laml(self, method, path):
        return self.pick(path).match_laml(method, path)


def error_problems(status, body):
    """Errors must be JSON with exactly code/message/more_info/status (twilio-conference-api.md 6.1)."""
    try:
        obj = json.loads(body)
    except ValueError:
        return ["error body is not JSON: %r" % body[:200]]
    if not isinstance(obj, dict):
        return ["error body is not an object: %r" % body[:200]]
    problems = []
    if set(obj) != ERROR_KEYS:
        problems.append("error keys %s, expected exactly %s" % (sorted(obj), sorted(ERROR_KEYS)))
    if not (isinstance(obj.get("code"), int) and not isinstance(obj.get("code"), bool)):
        problems.append("code is not an integer: %r" % (obj.get("code"),))
    if not isinstance(obj.get("message"), str) or not obj.get("message"):
        problems.append("message is not a non-empty string: %r" % (obj.get("message"),))
    if not isinstance(obj.get("more_info"), str) or not obj["more_info"].startswith(("http://", "https://")):
        problems.append("more_info is not a URL: %r" % (obj.get("more_info"),))
    if obj.get("status") != status:
        problems.append("status field %r != HTTP status %d" % (obj.get("status"), status))
    return problems


def envelope_problems(op, obj, prefix):
    """Extra list-envelope rules the clients depend on (official-clients.md 3.2)."""
    problems = []
    key = op.list_key()
    if key is None:
        return problems
    extra = set(obj) - META_KEYS
    if extra != {key}:
        problems.append("list envelope must have exactly one record key %r besides the meta keys; has %s"
                        % (key, sorted(extra)))
    for k in ("uri", "first_page_uri", "next_page_uri", "previous_page_uri"):
        v = obj.get(k)
        if v is not None and not (isinstance(v, str) and v.startswith("/" + prefix + "/")):
            problems.append("%s %r does not start with /%s/" % (k, v, prefix))
    for k in ("page", "page_size", "start", "end"):
        if not isinstance(obj.get(k), int):
            problems.append("%s missing or not an integer: %r" % (k, obj.get(k)))
    records = obj.get(key) if isinstance(obj.get(key), list) else []
    if isinstance(obj.get("page_size"), int) and len(records) > obj["page_size"]:
        problems.append("%d records on a page of size %d" % (len(records), obj["page_size"]))
    if isinstance(obj.get("start"), int) and isinstance(obj.get("page"), int) and isinstance(obj.get("page_size"), int):
        if obj["start"] != obj["page"] * obj["page_size"]:
            problems.append("start %d != page*page_size %d" % (obj["start"], obj["page"] * obj["page_size"]))
        want_end = obj["start"] + len(records) - 1 if records else 0
        if obj.get("end") != want_end:
            problems.append("end %r != %d" % (obj.get("end"), want_end))
    return problems


def laml_problems(op, obj):
    """SignalWire seed schema (signalwire-laml.md) for /api/laml responses."""
    problems = []

    def participant(p, where):
        for k in LAML_PARTICIPANT_REQUIRED:
            if k not in p:
                problems.append("%s: required field %s missing" % (where, k))
        if p.get("status") not in ("in-progress", "completed"):
            problems.append("%s: status %r is not in-progress/completed" % (where, p.get("status")))
        for k in ("date_created", "date_updated"):
            if k in p and not (isinstance(p[k], str) and RFC2822_GMT.match(p[k])):
                problems.append("%s: %s %r is not RFC 2822 GMT" % (where, k, p[k]))
        for k in ("coaching", "end_conference_on_exit", "muted", "hold", "start_conference_on_enter"):
            if k in p and not isinstance(p[k], bool):
                problems.append("%s: %s is not a boolean" % (where, k))
        uri = p.get("uri")
        if not (isinstance(uri, str) and uri.startswith("/api/laml/2010-04-01/") and uri.endswith(".json")):
            problems.append("%s: uri %r does not carry /api/laml/2010-04-01/...json" % (where, uri))

    def conference(c, where):
        uri = c.get("uri")
        if not (isinstance(uri, str) and uri.startswith("/api/laml/2010-04-01/") and uri.endswith(".json")):
            problems.append("%s: uri %r does not carry /api/laml/2010-04-01/...json" % (where, uri))
        for k in ("date_created", "date_updated"):
            if k in c and not (isinstance(c[k], str) and RFC2822_GMT.match(c[k])):
                problems.append("%s: %s %r is not RFC 2822 GMT" % (where, k, c[k]))

    def call(c, where):
        if not isinstance(c, dict):
            problems.append("%s: not an object" % where)
            return
        uri = c.get("uri")
        if not (isinstance(uri, str) and uri.startswith("/api/laml/2010-04-01/") and uri.endswith(".json")):
            problems.append("%s: uri %r does not carry /api/laml/2010-04-01/...json" % (where, uri))
        for k, v in (c.get("subresource_uris") or {}).items():
            if not (isinstance(v, str) and v.startswith("/api/laml/2010-04-01/")):
                problems.append("%s: subresource_uris.%s %r does not carry /api/laml/2010-04-01/" % (where, k, v))
        # SignalWire's Compatibility Call resource has Twilio's call fields; SIDs may be UUIDs
        v = op.record_validator(uuid_sids=True)
        for err in sorted(v.iter_errors(c), key=lambda e: list(e.absolute_path)):
            loc = "/".join(str(x) for x in err.absolute_path) or "<root>"
            problems.append("%s: schema: %s: %s" % (where, loc, err.message[:300]))

    if op.operation_id in ("FetchCall", "UpdateCall", "CreateCall"):
        call(obj, "call")
    elif op.operation_id == "ListCall":
        problems.extend(envelope_problems(op, obj, "api/laml/2010-04-01"))
        for i, c in enumerate(obj.get("calls") or []):
            call(c, "calls[%d]" % i)
        for err in op.validator(200, uuid_sids=True).iter_errors(dict(obj, calls=[])):
            problems.append("envelope schema: %s: %s" % ("/".join(map(str, err.absolute_path)) or "<root>",
                                                          err.message[:300]))
    elif op.operation_id in ("FetchParticipant", "UpdateParticipant", "CreateParticipant"):
        participant(obj, "participant")
    elif op.operation_id == "ListParticipant":
        problems.extend(envelope_problems(op, obj, "api/laml/2010-04-01"))
        for i, p in enumerate(obj.get("participants") or []):
            participant(p, "participants[%d]" % i)
    elif op.operation_id in ("FetchConference", "UpdateConference"):
        conference(obj, "conference")
    elif op.operation_id == "ListConference":
        problems.extend(envelope_problems(op, obj, "api/laml/2010-04-01"))
        for i, c in enumerate(obj.get("conferences") or []):
            conference(c, "conferences[%d]" % i)
    return problems


def check_capture(contract, cap, uuid_accounts):
    """Returns (dialect, operation id or None, [problems]) for one captured response."""
    url = urllib.parse.urlsplit(cap["url"])
    path = urllib.parse.unquote(url.path) if "%2F" not in url.path else url.path
    status, body, method = cap["status"], cap["body"] or "", cap["method"]
    if path.startswith("/2010-04-01/"):
        dialect, op = "twilio", contract.match(method, path)
    elif path.startswith("/api/laml/2010-04-01/"):
        dialect, op = "laml", contract.match_laml(method, path)
    else:
        return "other", None, []
    if status >= 400:
        return dialect, op.operation_id if op else None, error_problems(status, body)
    if op is None:
        return dialect, None, ["%s %s answered %d but matches no operation of the spec" % (method, path, status)]
    problems = []
    if status not in op.success:
        problems.append("HTTP %d; the spec documents %s for %s" % (status, sorted(op.success), op.operation_id))
        return dialect, op.operation_id, problems
    if op.success[status] is None:
        if body.strip():
            problems.append("HTTP %d must have an empty body, got %r" % (status, body[:200]))
        return dialect, op.operation_id, problems
    try:
        obj = json.loads(body)
    except ValueError:
        return dialect, op.operation_id, ["body is not JSON: %r" % body[:200]]
    if dialect == "twilio":
        acct = path.split("/")[3]
        v = op.validator(status, uuid_sids=acct in uuid_accounts)
        for err in sorted(v.iter_errors(obj), key=lambda e: list(e.absolute_path)):
            loc = "/".join(str(x) for x in err.absolute_path) or "<root>"
            problems.append("schema: %s: %s" % (loc, err.message[:300]))
        problems.extend(envelope_problems(op, obj, "2010-04-01"))
        if op.operation_id.endswith("Participant") and op.operation_id != "ListParticipant" and isinstance(obj, dict):
            if obj.get("status") is None:
                problems.append("participant status missing/null")
    else:
        problems.extend(laml_problems(op, obj))
    return dialect, op.operation_id, problems
