'use strict';
// Shared by the Node client suites: config, capture, and an adapter over the generated
// twilio-node API (twilio 6.x and the twilio-node 3.x fork inside @signalwire/compatibility-api).
// Adapters return what the CLIENT parsed, renamed to the snake_case fields of the Twilio schema.
const fs = require('fs');
const crypto = require('crypto');
const assert = require('assert/strict');

const TWILIO_PREFIX = '2010-04-01';
const LAML_PREFIX = 'api/laml/2010-04-01';
const VARIANTS = [
  ['twilio-acct-twilio-prefix', 'twilio', TWILIO_PREFIX],
  ['uuid-acct-twilio-prefix', 'signalwire', TWILIO_PREFIX],
  ['twilio-acct-laml-prefix', 'twilio', LAML_PREFIX],
  ['uuid-acct-laml-prefix', 'signalwire', LAML_PREFIX],
];

function loadConfig() {
  const p = process.env.CONFAB_CONFORMANCE_CONFIG;
  if (!p) throw new Error('CONFAB_CONFORMANCE_CONFIG is not set: run tests/conformance/run.py');
  return JSON.parse(fs.readFileSync(p, 'utf8'));
}

function unique(name) {
  return `${name}-${crypto.randomBytes(4).toString('hex')}`;
}

function sidMatches(style, prefix, v) {
  if (typeof v !== 'string') return false;
  if (style === 'twilio') return new RegExp(`^${prefix}[0-9a-f]{32}$`).test(v);
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(v);
}

function unknownSid(style, prefix) {
  const h = crypto.randomBytes(16).toString('hex');
  if (style === 'twilio') return prefix + h;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function expectedStatus(prefix, twilioStatus) {
  if (prefix === LAML_PREFIX) return ['complete', 'failed'].includes(twilioStatus) ? 'completed' : 'in-progress';
  return twilioStatus;
}

const participantUri = (prefix, acct, cf, ca) => `/${prefix}/Accounts/${acct}/Conferences/${cf}/Participants/${ca}.json`;
const conferenceUri = (prefix, acct, cf) => `/${prefix}/Accounts/${acct}/Conferences/${cf}.json`;
// Twilio: "Non URL safe characters in a label must be percent encoded"
const quoteLabel = (label) => encodeURIComponent(label);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(fn, { timeout = 10000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await sleep(interval);
  }
  throw new Error(`timed out after ${timeout}ms waiting for ${what} (last=${JSON.stringify(last)})`);
}

function recordCapture(file, suite, variant, method, url, status, body) {
  if (!file) return;
  const text = typeof body === 'string' ? body : (body === undefined || body === null ? '' : JSON.stringify(body));
  fs.appendFileSync(file, JSON.stringify({ suite, variant, method: String(method).toUpperCase(), url, status, body: text }) + '\n');
}

function queryString(params) {
  if (!params) return '';
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    for (const item of Array.isArray(v) ? v : [v]) {
      if (item === undefined) continue;
      parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(item))}`);
    }
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

// Wraps the client's own RequestClient so every response it hands to the library is captured.
function wrapHttpClient(httpClient, adapter) {
  const orig = httpClient.request.bind(httpClient);
  httpClient.request = async (opts) => {
    const resp = await orig(opts);
    adapter.lastStatus = resp.statusCode;
    recordCapture(adapter.cfg.capture_file, adapter.suite, adapter.variant, opts.method,
      opts.uri + queryString(opts.params), resp.statusCode, resp.body);
    return resp;
  };
}

const P_FIELDS = {
  account_sid: 'accountSid', call_sid: 'callSid', label: 'label', call_sid_to_coach: 'callSidToCoach',
  coaching: 'coaching', conference_sid: 'conferenceSid', date_created: 'dateCreated', date_updated: 'dateUpdated',
  end_conference_on_exit: 'endConferenceOnExit', muted: 'muted', hold: 'hold',
  start_conference_on_enter: 'startConferenceOnEnter', status: 'status', queue_time: 'queueTime', uri: 'uri',
};
const C_FIELDS = {
  account_sid: 'accountSid', date_created: 'dateCreated', date_updated: 'dateUpdated', api_version: 'apiVersion',
  friendly_name: 'friendlyName', region: 'region', sid: 'sid', status: 'status', uri: 'uri',
  subresource_uris: 'subresourceUris', reason_conference_ended: 'reasonConferenceEnded',
  call_sid_ending_conference: 'callSidEndingConference',
};
const CALL_FIELDS = {
  sid: 'sid', account_sid: 'accountSid', parent_call_sid: 'parentCallSid', to: 'to', from: 'from', status: 'status',
  start_time: 'startTime', end_time: 'endTime', duration: 'duration', direction: 'direction',
  api_version: 'apiVersion', answered_by: 'answeredBy', forwarded_from: 'forwardedFrom', caller_name: 'callerName',
  date_created: 'dateCreated', date_updated: 'dateUpdated', uri: 'uri', subresource_uris: 'subresourceUris',
};
const MISSING = '<property missing in client>';
function pick(inst, fields) {
  const out = {};
  for (const [k, js] of Object.entries(fields)) out[k] = js in inst ? inst[js] : (k === 'queue_time' ? null : MISSING);
  return out;
}

// snake_case option names used by the scenario -> the camelCase names the Node clients take
const CAMEL = {
  label: 'label', start_conference_on_enter: 'startConferenceOnEnter', muted: 'muted', hold: 'hold',
  hold_url: 'holdUrl', hold_method: 'holdMethod', announce_url: 'announceUrl', announce_method: 'announceMethod',
  wait_url: 'waitUrl', wait_method: 'waitMethod', beep_on_exit: 'beepOnExit',
  end_conference_on_exit: 'endConferenceOnExit', coaching: 'coaching', call_sid_to_coach: 'callSidToCoach',
  page_size: 'pageSize', limit: 'limit', friendly_name: 'friendlyName', status: 'status',
  // Calls
  to: 'to', from: 'from', twiml: 'twiml', url: 'url', method: 'method', parent_call_sid: 'parentCallSid',
  start_time_after: 'startTimeAfter', start_time_before: 'startTimeBefore', start_time: 'startTime',
  timeout: 'timeout', status_callback: 'statusCallback',
  // status callbacks (Participants and Calls create)
  status_callback_event: 'statusCallbackEvent', beep: 'beep',
  conference_status_callback: 'conferenceStatusCallback',
  conference_status_callback_event: 'conferenceStatusCallbackEvent',
};
function camel(opts) {
  const out = {};
  for (const [k, v] of Object.entries(opts || {})) {
    if (!(k in CAMEL)) throw new Error(`no camelCase name for ${k}`);
    if (v !== undefined && v !== null) out[CAMEL[k]] = v;
  }
  return out;
}

class NodeAdapter {
  // buildClient(acct, token, baseUrl) -> twilio-node style client, already pointed at baseUrl
  constructor({ cfg, acct, prefix, variant, suite, baseUrl, buildClient, token }) {
    Object.assign(this, { cfg, acct, prefix, variant, suite, baseUrl, buildClient });
    this.accountSid = acct.sid;
    this.token = token || acct.auth_token;
    this.client = buildClient(acct, this.token, baseUrl);
    this.client.api.baseUrl = baseUrl; // scheme+host+port only; next_page_uri is appended to it
    if (prefix === LAML_PREFIX) this.client.api.v2010._version = LAML_PREFIX;
    wrapHttpClient(this.client.httpClient, this);
    this.lastStatus = null;
    this.lastCreateStatus = null;
  }

  withToken(token) {
    return new NodeAdapter({ ...this, token });
  }

  p(inst) { return pick(inst, P_FIELDS); }
  call(inst) { return pick(inst, CALL_FIELDS); }
  c(inst) { return pick(inst, C_FIELDS); }

  assertDate(v) {
    assert.ok(v instanceof Date && !isNaN(v.getTime()), `date not parsed by the client: ${v}`);
    assert.ok(Math.abs(Date.now() - v.getTime()) < 86400000, `date far from now: ${v.toISOString()}`);
  }

  deleteOk(v) { return v === true; }

  errorOf(e) {
    if (e && typeof e.status === 'number') return [e.status, e.code === undefined ? null : e.code];
    throw e;
  }

  async expectError(fn) {
    let r;
    try {
      r = await fn();
    } catch (e) {
      return this.errorOf(e);
    }
    throw new assert.AssertionError({ message: `the client reported success where an error was expected: ${JSON.stringify(r)}` });
  }

  participants(conf) { return this.client.conferences(conf).participants; }

  async createParticipant(conf, from, to, opts = {}) {
    const inst = await this.participants(conf).create({ from, to, ...camel(opts) });
    this.lastCreateStatus = this.lastStatus;
    return this.p(inst);
  }
  async fetchParticipant(conf, ident) { return this.p(await this.participants(conf)(ident).fetch()); }
  async updateParticipant(conf, ident, opts) { return this.p(await this.participants(conf)(ident).update(camel(opts))); }
  async deleteParticipant(conf, ident) { return this.participants(conf)(ident).remove(); }
  async listParticipants(conf, opts = {}) {
    return (await this.participants(conf).list(camel(opts))).map((x) => this.p(x));
  }
  streamParticipants(conf, opts = {}) {
    // the client's callback iterator (`each`), which follows next_page_uri itself
    return new Promise((resolve, reject) => {
      const items = [];
      this.participants(conf).each({ ...camel(opts), done: (err) => (err ? reject(err) : resolve(items)) },
        (item) => { items.push(this.p(item)); });
    });
  }
  async pages(conf, pageSize, filters = {}) {
    const out = [];
    let page = await this.participants(conf).page({ pageSize, ...camel(filters) });
    while (page) {
      out.push(page.instances.map((x) => this.p(x)));
      assert.ok(out.length < 50, 'paging does not terminate');
      page = await page.nextPage();
    }
    return out;
  }

  async createCall(to, from, opts = {}) {
    const inst = await this.client.calls.create({ to, from, ...camel(opts) });
    this.lastCreateStatus = this.lastStatus;
    return this.call(inst);
  }
  async fetchCall(sid) { return this.call(await this.client.calls(sid).fetch()); }
  async updateCall(sid, opts) { return this.call(await this.client.calls(sid).update(camel(opts))); }
  async deleteCall(sid) { return this.client.calls(sid).remove(); }
  async listCalls(opts = {}) { return (await this.client.calls.list(camel(opts))).map((x) => this.call(x)); }
  streamCalls(opts = {}) {
    return new Promise((resolve, reject) => {
      const items = [];
      this.client.calls.each({ ...camel(opts), done: (err) => (err ? reject(err) : resolve(items)) },
        (item) => { items.push(this.call(item)); });
    });
  }
  async callPages(pageSize, filters = {}) {
    const out = [];
    let page = await this.client.calls.page({ pageSize, ...camel(filters) });
    while (page) {
      out.push(page.instances.map((x) => this.call(x)));
      assert.ok(out.length < 50, 'paging does not terminate');
      page = await page.nextPage();
    }
    return out;
  }

  async fetchConference(sid) { return this.c(await this.client.conferences(sid).fetch()); }
  async listConferences(opts = {}) { return (await this.client.conferences.list(camel(opts))).map((x) => this.c(x)); }
  async updateConference(sid, opts) { return this.c(await this.client.conferences(sid).update(camel(opts))); }
}

module.exports = {
  TWILIO_PREFIX, LAML_PREFIX, VARIANTS, loadConfig, unique, sidMatches, unknownSid, expectedStatus,
  participantUri, conferenceUri, quoteLabel, waitUntil, NodeAdapter, recordCapture, sleep,
};
