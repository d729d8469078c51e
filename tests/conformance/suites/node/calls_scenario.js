'use strict';
// The Calls-resource and voice-webhook scenario both Node client suites run (mirrors
// pylib/calls_scenario.py). Webhook signatures are checked with the client library's own
// validateRequest(authToken, signature, url, params).
const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('assert/strict');
const {
  TWILIO_PREFIX, VARIANTS, loadConfig, unique, sidMatches, unknownSid, expectedStatus, waitUntil, sleep,
} = require('./common');
const { WebhookReceiver, dialConference } = require('./webhook');

const FROM = '+15005550006';
const HANGUP = '<Response><Hangup/></Response>';
const PAUSE = '<Response><Pause length="60"/></Response>';
const POLL_MS = 20;
const LIVE_STATUSES = ['queued', 'ringing', 'in-progress'];
const CORE_PARAMS = ['CallSid', 'AccountSid', 'From', 'To', 'CallStatus', 'ApiVersion', 'Direction', 'Caller', 'Called'];

// HTTP status of a 21xxx validation error: Twilio 400; the LaML dialect answers 422 (DESIGN.md)
const invalidStatuses = (prefix) => (prefix === TWILIO_PREFIX ? [400] : [400, 422]);
const assertInvalid = ([status, code], prefix, want) => {
  assert.ok(invalidStatuses(prefix).includes(status), `status=${status}`);
  assert.equal(code, want);
};
const callUri = (prefix, acct, sid) => `/${prefix}/Accounts/${acct}/Calls/${sid}.json`;
const sorted = (xs) => [...xs].sort();

class Ctx {
  constructor(a, style, prefix, acct) {
    Object.assign(this, { a, style, prefix, acct });
    this.live = []; // calls to hang up after the test
    this.rooms = {}; // room name -> conference sid, once it exists
  }

  get accountSid() { return this.a.accountSid; }

  async create(to, opts = {}, live = true) {
    const c = await this.a.createCall(to, FROM, opts);
    if (live) this.live.push(c.sid);
    return c;
  }

  // {call_sid: participant status} of the conference named `room` (empty once it ended)
  async inRoom(room) {
    if (!(room in this.rooms)) {
      const confs = (await this.a.listConferences({ friendly_name: room })).filter((x) => x.status !== 'completed');
      if (!confs.length) return {};
      this.rooms[room] = confs[0].sid;
    }
    const out = {};
    for (const p of await this.a.listParticipants(this.rooms[room])) out[p.call_sid] = p.status;
    return out;
  }

  waitInRoom(room, sid) {
    const want = expectedStatus(this.prefix, 'connected');
    return waitUntil(async () => (await this.inRoom(room))[sid] === want,
      { interval: POLL_MS, what: `call ${sid} to be a ${want} participant of ${room}` });
  }

  waitLeftRoom(room, sid) {
    return waitUntil(async () => !((sid in await this.inRoom(room))), { interval: POLL_MS, what: `call ${sid} to leave ${room}` });
  }

  waitStatus(sid, ...statuses) {
    return waitUntil(async () => {
      const c = await this.a.fetchCall(sid);
      return statuses.includes(c.status) ? c : null;
    }, { interval: POLL_MS, what: `call ${sid} to be ${statuses.join('/')}` });
  }

  // a call in progress in a conference (its own room unless given)
  async roomCall(room) {
    room = room || unique('callroom');
    const c = await this.create(`sim:${unique('live')}`, { twiml: dialConference(room) });
    await this.waitInRoom(room, c.sid);
    return [c, room];
  }

  // a call in progress that runs <Pause> (no conference)
  async pausedCall() {
    const c = await this.create(`sim:${unique('live')}`, { twiml: PAUSE });
    return this.waitStatus(c.sid, 'in-progress');
  }

  async endedCall() {
    const c = await this.create(`sim:${unique('ended')}`, { twiml: HANGUP }, false);
    return this.waitStatus(c.sid, 'completed');
  }

  async cleanup() {
    for (const sid of this.live) {
      try { await this.a.updateCall(sid, { status: 'completed' }); } catch (e) { /* ended or deleted */ }
    }
    this.live = [];
  }
}

function assertCall(ctx, call, to, statuses = LIVE_STATUSES) {
  assert.ok(sidMatches(ctx.style, 'CA', call.sid), call.sid);
  assert.equal(call.account_sid, ctx.accountSid);
  assert.equal(call.to, to);
  assert.equal(call.from, FROM);
  assert.equal(call.direction, 'outbound-api');
  assert.equal(call.api_version, '2010-04-01');
  assert.equal(call.parent_call_sid, null);
  assert.equal(call.uri, callUri(ctx.prefix, ctx.accountSid, call.sid));
  assert.ok(statuses.includes(call.status), `status=${call.status}, expected ${statuses}`);
  ctx.a.assertDate(call.date_created);
  ctx.a.assertDate(call.date_updated);
}

// validateRequest(authToken, signature, url, params) of the client library under test
function assertSigned(ctx, req, validateRequest) {
  assert.ok(req.signature, `no X-Twilio-Signature header on ${req.method} ${req.url}`);
  assert.equal(validateRequest(ctx.acct.auth_token, req.signature, req.url, req.signedParams), true,
    `X-Twilio-Signature ${req.signature} does not validate for ${req.method} ${req.url} ${JSON.stringify(req.signedParams)}`);
  // control: the same check fails with another token, a tampered URL and a tampered parameter
  assert.equal(validateRequest('0'.repeat(32), req.signature, req.url, req.signedParams), false);
  assert.equal(validateRequest(ctx.acct.auth_token, req.signature, `${req.url}&tampered=1`, req.signedParams), false);
  if (Object.keys(req.signedParams).length) {
    assert.equal(validateRequest(ctx.acct.auth_token, req.signature, req.url,
      { ...req.signedParams, CallSid: 'tampered' }), false);
  }
}

function assertWebhook(ctx, req, call, to, method, validateRequest) {
  assert.equal(req.method, method);
  const p = req.params;
  const missing = CORE_PARAMS.filter((k) => !(k in p));
  assert.deepEqual(missing, [], `webhook parameters missing: ${missing} (got ${JSON.stringify(p)})`);
  assert.equal(p.CallSid, call.sid);
  assert.equal(p.AccountSid, ctx.accountSid);
  assert.equal(p.From, FROM);
  assert.equal(p.Caller, FROM);
  assert.equal(p.To, to);
  assert.equal(p.Called, to);
  assert.equal(p.ApiVersion, '2010-04-01');
  assert.equal(p.Direction, 'outbound-api');
  assert.ok(['ringing', 'in-progress'].includes(p.CallStatus), `CallStatus=${p.CallStatus}`);
  if (method === 'POST') assert.match(req.headers['content-type'] || '', /^application\/x-www-form-urlencoded/);
  assertSigned(ctx, req, validateRequest);
}

// makeAdapter(cfg, acct, prefix, variant) -> NodeAdapter; validateRequest: the library's validator
function runCallsScenario({ makeAdapter, validateRequest }) {
  const cfg = loadConfig();
  const hooks = new WebhookReceiver();
  before(() => hooks.start());
  after(() => hooks.close());

  it('webhook signature control: a wrong signature does not validate', () => {
    assert.equal(validateRequest('x'.repeat(32), 'bm90IGEgc2lnbmF0dXJl', 'http://127.0.0.1/voice', { CallSid: 'CA1' }), false);
  });

  for (const [vid, style, prefix] of VARIANTS) {
    describe(`calls ${vid}`, () => {
      let c;
      before(() => { c = new Ctx(makeAdapter(cfg, cfg.accounts[style], prefix, vid), style, prefix, cfg.accounts[style]); });
      afterEach(() => c.cleanup());

      it('create with Twiml, then fetch', async () => {
        const room = unique('twiml');
        const to = `sim:${unique('tw')}`;
        const call = await c.create(to, { twiml: dialConference(room) });
        assert.ok([201, null, undefined].includes(c.a.lastCreateStatus), `status ${c.a.lastCreateStatus}`);
        assertCall(c, call, to, ['queued']); // Twilio: "status": "queued" on create
        await c.waitInRoom(room, call.sid);
        const f = await c.a.fetchCall(call.sid);
        assertCall(c, f, to, ['in-progress']);
        c.a.assertDate(f.start_time);
        assert.equal(f.end_time, null);
        assert.equal(f.duration, null);
        assert.equal(f.date_created.getTime(), call.date_created.getTime());
      });

      it('create with Url (POST webhook, signed)', async () => {
        const room = unique('hookpost');
        const to = `sim:${unique('hp')}`;
        const call = await c.create(to, { url: hooks.url('/voice', { room }) });
        assertCall(c, call, to, ['queued']);
        const req = await hooks.waitForCall(call.sid);
        assertWebhook(c, req, call, to, 'POST', validateRequest);
        assert.deepEqual(req.query, { room });
        await c.waitInRoom(room, call.sid);
        assert.equal((await c.a.fetchCall(call.sid)).status, 'in-progress');
      });

      it('create with Url and Method=GET (signed)', async () => {
        const room = unique('hookget');
        const to = `sim:${unique('hg')}`;
        const call = await c.create(to, { url: hooks.url('/voice', { room }), method: 'GET' });
        const req = await hooks.waitForCall(call.sid);
        assertWebhook(c, req, call, to, 'GET', validateRequest);
        assert.equal(req.query.room, room);
        assert.deepEqual(req.form, {});
        await c.waitInRoom(room, call.sid);
      });

      it('participant create makes a call', async () => {
        const room = unique('pcall');
        const to = `sim:${unique('pc')}`;
        const p = await c.a.createParticipant(room, FROM, to);
        c.live.push(p.call_sid);
        await c.waitInRoom(room, p.call_sid);
        const call = await c.waitStatus(p.call_sid, 'in-progress');
        assertCall(c, call, to, ['in-progress']);
        assert.ok((await c.a.listCalls({ to })).map((x) => x.sid).includes(p.call_sid));
      });

      it('list filters To and Status', async () => {
        const live = await c.pausedCall();
        const ended = await c.endedCall();
        const toEnded = ended.to;
        const sids = async (f) => {
          const got = (await c.a.listCalls(f)).map((x) => x.sid);
          assert.equal(got.length, new Set(got).size, `duplicates in ${got}`);
          return got;
        };
        assert.deepEqual(await sids({ to: live.to }), [live.sid]);
        assert.deepEqual(await sids({ to: toEnded }), [ended.sid]);
        assertCall(c, (await c.a.listCalls({ to: live.to }))[0], live.to, ['in-progress']);
        const inProgress = await sids({ status: 'in-progress' });
        const completed = await sids({ status: 'completed' });
        assert.ok(inProgress.includes(live.sid) && !inProgress.includes(ended.sid));
        assert.ok(completed.includes(ended.sid) && !completed.includes(live.sid));
        assert.deepEqual(await sids({ to: live.to, status: 'in-progress' }), [live.sid]);
        assert.deepEqual(await sids({ to: live.to, status: 'completed' }), []);
        assert.deepEqual(await sids({ from: FROM, to: toEnded }), [ended.sid]);
        assert.deepEqual(await sids({ to: `sim:${unique('nobody')}` }), []);
      });

      it('list StartTime> / StartTime< filters (client-serialised dates)', async () => {
        const call = await c.endedCall();
        const now = new Date();
        const today = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
        // the client sends a Date as YYYY-MM-DDTHH:mm:ssZ
        assert.deepEqual((await c.a.listCalls({ to: call.to, start_time_after: today })).map((x) => x.sid), [call.sid]);
        assert.deepEqual(await c.a.listCalls({ to: call.to, start_time_before: new Date(Date.UTC(2000, 0, 1)) }), []);
      });

      it('paging (PageSize=1 over 3 calls; page/nextPage, list, each)', async () => {
        const to = `sim:${unique('pages')}`;
        const made = [];
        for (let i = 0; i < 3; i++) made.push((await c.create(to, { twiml: HANGUP }, false)).sid);
        const pages = await c.a.callPages(1, { to });
        assert.deepEqual(pages.map((p) => p.length), [1, 1, 1], 'next_page_uri must carry To and PageSize');
        assert.deepEqual(sorted(pages.flat().map((x) => x.sid)), sorted(made));
        assert.ok(pages.flat().every((x) => x.to === to));
        assert.deepEqual(sorted((await c.a.listCalls({ to, page_size: 1 })).map((x) => x.sid)), sorted(made));
        assert.deepEqual(sorted((await c.a.streamCalls({ to, page_size: 1 })).map((x) => x.sid)), sorted(made));
        const limited = await c.a.listCalls({ to, page_size: 1, limit: 2 });
        assert.equal(limited.length, 2);
        assert.equal(new Set(limited.map((x) => x.sid)).size, 2);
      });

      it('redirect with Twiml moves the call to another conference', async () => {
        const [call, roomA] = await c.roomCall();
        const roomB = unique('moved');
        const u = await c.a.updateCall(call.sid, { twiml: dialConference(roomB) });
        assert.equal(u.sid, call.sid);
        assert.equal(u.status, 'in-progress');
        await c.waitInRoom(roomB, call.sid);
        await c.waitLeftRoom(roomA, call.sid);
        assert.equal((await c.a.fetchCall(call.sid)).status, 'in-progress');
      });

      it('redirect with Url (signed webhook)', async () => {
        const [call, roomA] = await c.roomCall();
        const roomB = unique('hookmoved');
        const u = await c.a.updateCall(call.sid, { url: hooks.url('/voice', { room: roomB }), method: 'POST' });
        assert.equal(u.sid, call.sid);
        assert.equal(u.status, 'in-progress');
        const req = await hooks.waitForCall(call.sid);
        assertWebhook(c, req, call, call.to, 'POST', validateRequest);
        assert.equal(req.params.CallStatus, 'in-progress');
        await c.waitInRoom(roomB, call.sid);
        await c.waitLeftRoom(roomA, call.sid);
      });

      it('hang up with Status=completed', async () => {
        const [call, room] = await c.roomCall();
        const u = await c.a.updateCall(call.sid, { status: 'completed' });
        assert.equal(u.sid, call.sid);
        assert.equal(u.status, 'completed');
        const f = await c.a.fetchCall(call.sid);
        assertCall(c, f, call.to, ['completed']);
        assert.ok(typeof f.duration === 'string' && /^\d+$/.test(f.duration), `duration=${f.duration}`);
        c.a.assertDate(f.start_time);
        c.a.assertDate(f.end_time);
        await c.waitLeftRoom(room, call.sid);
        assert.ok((await c.a.listCalls({ to: call.to, status: 'completed' })).map((x) => x.sid).includes(call.sid));
      });

      it('cancel a ringing call with Status=canceled', async () => {
        const call = await c.create(`sim:${unique('ring')}?delay=5000`, { twiml: HANGUP }, false);
        const f = await c.a.fetchCall(call.sid);
        assert.ok(['queued', 'ringing'].includes(f.status), `status=${f.status}`);
        const u = await c.a.updateCall(call.sid, { status: 'canceled' });
        assert.equal(u.status, 'canceled');
        assert.equal((await c.a.fetchCall(call.sid)).status, 'canceled');
      });

      it('delete an ended call', async () => {
        const call = await c.endedCall();
        assert.ok(c.a.deleteOk(await c.a.deleteCall(call.sid)), 'client did not report success');
        assert.deepEqual(await c.a.expectError(() => c.a.fetchCall(call.sid)), [404, 20404]);
        assert.deepEqual(await c.a.listCalls({ to: call.to }), []);
      });

      it('delete a live call is 21220', async () => {
        const call = await c.pausedCall();
        assertInvalid(await c.a.expectError(() => c.a.deleteCall(call.sid)), prefix, 21220);
        assert.equal((await c.a.fetchCall(call.sid)).status, 'in-progress');
      });

      it('error: neither Url nor Twiml (21205)', async () => {
        // Twilio: 400/21205; SignalWire documents 422 for validation errors
        assertInvalid(await c.a.expectError(() => c.a.createCall(`sim:${unique('nourl')}`, FROM)), prefix, 21205);
      });

      it('error: updating an ended call (21220)', async () => {
        const call = await c.endedCall();
        assertInvalid(await c.a.expectError(() => c.a.updateCall(call.sid, { twiml: HANGUP })), prefix, 21220);
        assertInvalid(await c.a.expectError(() => c.a.updateCall(call.sid, { url: 'http://127.0.0.1:9/x' })), prefix, 21220);
        assert.equal((await c.a.fetchCall(call.sid)).status, 'completed');
      });

      it('error: unknown call (20404)', async () => {
        const ghost = unknownSid(style, 'CA');
        assert.deepEqual(await c.a.expectError(() => c.a.fetchCall(ghost)), [404, 20404]);
        assert.deepEqual(await c.a.expectError(() => c.a.updateCall(ghost, { status: 'completed' })), [404, 20404]);
        assert.deepEqual(await c.a.expectError(() => c.a.deleteCall(ghost)), [404, 20404]);
      });

      it('error: wrong token (20003)', async () => {
        const call = await c.pausedCall();
        const bad = c.a.withToken('0'.repeat(32));
        assert.deepEqual(await bad.expectError(() => bad.fetchCall(call.sid)), [401, 20003]);
        assert.deepEqual(await bad.expectError(() => bad.updateCall(call.sid, { status: 'completed' })), [401, 20003]);
        assert.equal((await bad.expectError(() => bad.listCalls({ to: call.to })))[0], 401);
        assert.equal((await c.a.fetchCall(call.sid)).status, 'in-progress');
      });
    });
  }
}

module.exports = { runCallsScenario };
