'use strict';
// The participant/conference scenario both Node client suites run (mirrors pylib/scenario.py).
const { describe, it, before, beforeEach } = require('node:test');
const assert = require('assert/strict');
const {
  TWILIO_PREFIX, VARIANTS, loadConfig, unique, sidMatches, unknownSid, expectedStatus, participantUri,
  conferenceUri, quoteLabel, waitUntil,
} = require('./common');

const FROM = '+15005550006';
const HOLD_URL = 'http://127.0.0.1:9/hold.xml';
const ANNOUNCE_URL = 'http://127.0.0.1:9/announce.xml';
const WAIT_URL = 'http://127.0.0.1:9/wait.xml';
const LABELS = ['alice', 'bob smith', 'carol', 'dave', 'erin'];

const sorted = (xs) => [...xs].sort();
const setEq = (a, b) => assert.deepEqual(sorted(new Set(a)), sorted(new Set(b)));

class Room {
  constructor(a, style, prefix) { Object.assign(this, { a, style, prefix }); }

  async build() {
    this.name = unique('room');
    this.created = {};
    this.sid = {};
    for (const label of LABELS) {
      const p = await this.a.createParticipant(this.name, FROM, `sim:${label.replace(' ', '_')}`,
        { label, start_conference_on_enter: true });
      this.created[label] = p;
      this.sid[label] = p.call_sid;
    }
    this.cf = this.created.alice.conference_sid;
    for (const label of LABELS) await this.waitConnected(this.sid[label]);
    return this;
  }

  get accountSid() { return this.a.accountSid; }
  connectedStatus() { return expectedStatus(this.prefix, 'connected'); }

  waitConnected(ident) {
    const want = this.connectedStatus();
    return waitUntil(async () => {
      const p = await this.a.fetchParticipant(this.cf, ident);
      return p.status === want ? p : null;
    }, { what: `participant ${ident} to be ${want}` });
  }

  async reset() {
    for (const label of LABELS) {
      await this.a.updateParticipant(this.cf, this.sid[label], { muted: false, hold: false, coaching: false });
    }
  }
}

function assertParticipant(room, p, label, status) {
  assert.equal(p.account_sid, room.accountSid);
  assert.equal(p.call_sid, room.sid[label]);
  assert.ok(sidMatches(room.style, 'CA', p.call_sid), p.call_sid);
  assert.equal(p.conference_sid, room.cf);
  assert.ok(sidMatches(room.style, 'CF', p.conference_sid), p.conference_sid);
  assert.equal(p.label, label);
  assert.equal(p.uri, participantUri(room.prefix, room.accountSid, room.cf, room.sid[label]));
  room.a.assertDate(p.date_created);
  room.a.assertDate(p.date_updated);
  for (const k of ['muted', 'hold', 'coaching', 'end_conference_on_exit', 'start_conference_on_enter']) {
    assert.equal(typeof p[k], 'boolean', `${k}=${p[k]}`);
  }
  if (status !== undefined) assert.equal(p.status, status);
}

// makeAdapter(cfg, acct, prefix, variant) -> NodeAdapter; hasQueueTime: client exposes queueTime
function runScenario({ makeAdapter, hasQueueTime }) {
  const cfg = loadConfig();
  for (const [vid, style, prefix] of VARIANTS) {
    describe(vid, () => {
      let room;
      let r;
      before(async () => {
        room = await new Room(makeAdapter(cfg, cfg.accounts[style], prefix, vid), style, prefix).build();
      });
      beforeEach(async () => {
        if (!room) return;
        await room.reset();
        r = room;
      });

      it('create participant response', () => {
        const p = room.created.alice;
        assert.ok([201, null].includes(room.a.lastCreateStatus) || room.a.lastCreateStatus === undefined);
        assertParticipant(room, p, 'alice');
        assert.equal(p.status, expectedStatus(prefix, 'queued'));
        assert.deepEqual([p.muted, p.hold, p.coaching], [false, false, false]);
        assert.deepEqual([p.start_conference_on_enter, p.end_conference_on_exit], [true, false]);
        assert.equal(p.call_sid_to_coach, null);
        if (hasQueueTime && prefix === TWILIO_PREFIX) {
          assert.ok(typeof p.queue_time === 'string' && /^\d+$/.test(p.queue_time), `queue_time=${p.queue_time}`);
        }
        assert.equal(new Set(Object.values(room.sid)).size, LABELS.length);
      });

      it('fetch participant', async () => {
        const p = await r.a.fetchParticipant(r.cf, r.sid.carol);
        assertParticipant(r, p, 'carol', r.connectedStatus());
        assert.deepEqual([p.muted, p.hold, p.coaching, p.call_sid_to_coach], [false, false, false, null]);
        if (hasQueueTime && prefix === TWILIO_PREFIX) assert.equal(p.queue_time, null);
      });

      it('sim busy call fails', async () => {
        const p = await r.a.createParticipant(r.name, FROM, 'sim:busy?answer=busy', { label: unique('busy') });
        const failed = expectedStatus(prefix, 'failed');
        await waitUntil(async () => {
          try {
            const q = await r.a.fetchParticipant(r.cf, p.call_sid);
            return q.status === failed ? q.status : null;
          } catch (e) {
            return r.a.errorOf(e)[0] === 404 ? 'gone' : null;
          }
        }, { what: 'busy sim call to fail' });
      });

      it('fetch conference', async () => {
        const c = await r.a.fetchConference(r.cf);
        assert.equal(c.sid, r.cf);
        assert.equal(c.account_sid, r.accountSid);
        assert.equal(c.friendly_name, r.name);
        assert.equal(c.status, 'in-progress');
        assert.equal(c.api_version, '2010-04-01');
        assert.equal(c.uri, conferenceUri(prefix, r.accountSid, r.cf));
        assert.equal(c.subresource_uris.participants, `/${prefix}/Accounts/${r.accountSid}/Conferences/${r.cf}/Participants.json`);
        assert.equal(c.reason_conference_ended, null);
        r.a.assertDate(c.date_created);
      });

      it('list conferences', async () => {
        const mine = await r.a.listConferences({ friendly_name: r.name });
        assert.deepEqual(mine.map((c) => c.sid), [r.cf]);
        assert.equal(mine[0].status, 'in-progress');
        assert.ok((await r.a.listConferences({ status: 'in-progress' })).map((c) => c.sid).includes(r.cf));
        assert.ok(!(await r.a.listConferences({ status: 'completed' })).map((c) => c.sid).includes(r.cf));
      });

      it('update conference announce', async () => {
        const c = await r.a.updateConference(r.cf, { announce_url: ANNOUNCE_URL, announce_method: 'GET' });
        assert.equal(c.sid, r.cf);
        assert.equal(c.status, 'in-progress');
      });

      it('end conference', async () => {
        const a = room.a;
        const name = unique('ending');
        const first = await a.createParticipant(name, FROM, 'sim:end1');
        await a.createParticipant(name, FROM, 'sim:end2');
        const cf = first.conference_sid;
        await waitUntil(async () => (await a.fetchConference(cf)).status === 'in-progress', { what: 'conference start' });
        const c = await a.updateConference(cf, { status: 'completed' });
        assert.equal(c.sid, cf);
        assert.equal(c.status, 'completed');
        assert.equal(c.reason_conference_ended, 'conference-ended-via-api');
        assert.equal(c.call_sid_ending_conference, null);
        assert.equal((await a.fetchConference(cf)).status, 'completed');
        assert.ok((await a.listConferences({ status: 'completed' })).map((x) => x.sid).includes(cf));
        assert.deepEqual(await a.listParticipants(cf), []);
        assert.deepEqual(await a.expectError(() => a.fetchParticipant(cf, first.call_sid)), [404, 20404]);
      });

      it('list filters', async () => {
        const { a, sid: s } = r;
        await a.updateParticipant(r.cf, s.alice, { muted: true });
        await a.updateParticipant(r.cf, s['bob smith'], { hold: true });
        const p = await a.updateParticipant(r.cf, s.carol, { coaching: true, call_sid_to_coach: s.dave });
        assert.equal(p.coaching, true);
        assert.equal(p.call_sid_to_coach, s.dave);
        const sids = async (f) => {
          const got = (await a.listParticipants(r.cf, f)).map((q) => q.call_sid);
          assert.equal(got.length, new Set(got).size, `duplicates in ${got}`);
          return got;
        };
        const everyone = Object.values(s);
        const without = (x) => everyone.filter((y) => y !== x);
        setEq(await sids({}), everyone);
        setEq(await sids({ muted: true }), [s.alice]);
        setEq(await sids({ muted: false }), without(s.alice));
        setEq(await sids({ hold: true }), [s['bob smith']]);
        setEq(await sids({ hold: false }), without(s['bob smith']));
        setEq(await sids({ coaching: true }), [s.carol]);
        setEq(await sids({ coaching: false }), without(s.carol));
        setEq(await sids({ muted: true, hold: true }), []);
        const listed = Object.fromEntries((await a.listParticipants(r.cf)).map((q) => [q.call_sid, q]));
        assert.equal(listed[s.alice].muted, true);
        assert.equal(listed[s['bob smith']].hold, true);
        assert.equal(listed[s.carol].coaching, true);
      });

      it('paging page by page', async () => {
        const pages = await r.a.pages(r.cf, 2);
        assert.deepEqual(pages.map((p) => p.length), [2, 2, 1]);
        const got = pages.flat().map((q) => q.call_sid);
        assert.equal(new Set(got).size, LABELS.length);
        setEq(got, Object.values(r.sid));
      });

      it('paging keeps filter', async () => {
        const muted = ['alice', 'carol', 'erin'].map((x) => r.sid[x]);
        for (const sid of muted) await r.a.updateParticipant(r.cf, sid, { muted: true });
        const pages = await r.a.pages(r.cf, 1, { muted: true });
        assert.deepEqual(pages.map((p) => p.length), [1, 1, 1], 'next_page_uri must carry Muted=true');
        setEq(pages.flat().map((q) => q.call_sid), muted);
        assert.ok(pages.flat().every((q) => q.muted === true));
      });

      it('paging with client iteration (list/each)', async () => {
        const all = Object.values(r.sid);
        setEq((await r.a.listParticipants(r.cf, { page_size: 2 })).map((q) => q.call_sid), all);
        const streamed = await r.a.streamParticipants(r.cf, { page_size: 2 });
        assert.equal(streamed.length, all.length);
        setEq(streamed.map((q) => q.call_sid), all);
        const limited = await r.a.listParticipants(r.cf, { page_size: 2, limit: 3 });
        assert.equal(limited.length, 3);
        assert.equal(new Set(limited.map((q) => q.call_sid)).size, 3);
        await r.a.updateParticipant(r.cf, r.sid.dave, { hold: true });
        await r.a.updateParticipant(r.cf, r.sid.erin, { hold: true });
        const held = await r.a.streamParticipants(r.cf, { page_size: 1, hold: true });
        setEq(held.map((q) => q.call_sid), [r.sid.dave, r.sid.erin]);
      });

      it('page size too large', async () => {
        const [status, code] = await r.a.expectError(() => r.a.pages(r.cf, 1001));
        // Twilio: 400/20007. SignalWire documents 422 for validation errors (signalwire-laml.md).
        assert.ok((prefix === TWILIO_PREFIX ? [400] : [400, 422]).includes(status), `status=${status}`);
        assert.ok([20007, null].includes(code), `code=${code}`);
      });

      it('update every field', async () => {
        const { a, cf } = r;
        const erin = r.sid.erin;
        let p = await a.updateParticipant(cf, erin, {
          muted: true, hold: true, hold_url: HOLD_URL, hold_method: 'GET', announce_url: ANNOUNCE_URL,
          announce_method: 'POST', wait_url: WAIT_URL, wait_method: 'GET', beep_on_exit: false, end_conference_on_exit: true,
        });
        assertParticipant(r, p, 'erin');
        assert.deepEqual([p.muted, p.hold, p.end_conference_on_exit], [true, true, true]);
        let f = await a.fetchParticipant(cf, erin);
        assert.deepEqual([f.muted, f.hold, f.end_conference_on_exit], [true, true, true]);
        p = await a.updateParticipant(cf, erin, {
          hold: false, muted: false, end_conference_on_exit: false, beep_on_exit: true, coaching: true,
          call_sid_to_coach: r.sid.dave,
        });
        assert.deepEqual([p.muted, p.hold, p.end_conference_on_exit], [false, false, false]);
        assert.equal(p.coaching, true);
        assert.equal(p.call_sid_to_coach, r.sid.dave);
        f = await a.fetchParticipant(cf, erin);
        assert.equal(f.coaching, true);
        assert.equal(f.call_sid_to_coach, r.sid.dave);
        assert.equal(f.status, r.connectedStatus());
        p = await a.updateParticipant(cf, erin, { coaching: false });
        assert.equal(p.coaching, false);
      });

      it('update methods POST', async () => {
        const p = await r.a.updateParticipant(r.cf, r.sid.dave, {
          hold_url: HOLD_URL, hold_method: 'POST', announce_url: ANNOUNCE_URL, announce_method: 'GET',
          wait_url: WAIT_URL, wait_method: 'POST',
        });
        assertParticipant(r, p, 'dave', r.connectedStatus());
      });

      it('label addressing (incl. a label with a space)', async () => {
        const { a } = r;
        assertParticipant(r, await a.fetchParticipant(r.cf, 'alice'), 'alice');
        assertParticipant(r, await a.fetchParticipant(r.cf, quoteLabel('bob smith')), 'bob smith');
        let p = await a.updateParticipant(r.cf, quoteLabel('bob smith'), { muted: true });
        assert.equal(p.call_sid, r.sid['bob smith']);
        assert.equal(p.muted, true);
        assert.equal((await a.fetchParticipant(r.cf, r.sid['bob smith'])).muted, true);
        p = await a.updateParticipant(r.cf, 'alice', { hold: true });
        assert.equal(p.call_sid, r.sid.alice);
        assert.equal(p.hold, true);
      });

      it('delete participant', async () => {
        const { a } = r;
        const p = await a.createParticipant(r.cf, FROM, 'sim:frank');
        assert.equal(p.conference_sid, r.cf);
        await r.waitConnected(p.call_sid);
        assert.ok(a.deleteOk(await a.deleteParticipant(r.cf, p.call_sid)), 'client did not report success');
        assert.deepEqual(await a.expectError(() => a.fetchParticipant(r.cf, p.call_sid)), [404, 20404]);
        assert.ok(!(await a.listParticipants(r.cf)).map((q) => q.call_sid).includes(p.call_sid));
        assert.equal((await a.fetchConference(r.cf)).status, 'in-progress');
      });

      it('delete by label with a space', async () => {
        const { a } = r;
        const label = unique('gina x');
        const p = await a.createParticipant(r.name, FROM, 'sim:gina', { label });
        assert.equal(p.conference_sid, r.cf);
        assert.ok(a.deleteOk(await a.deleteParticipant(r.cf, quoteLabel(label))), 'client did not report success');
        assert.deepEqual(await a.expectError(() => a.fetchParticipant(r.cf, p.call_sid)), [404, 20404]);
      });

      it('error: unknown participant', async () => {
        const { a } = r;
        const ghost = unknownSid(style, 'CA');
        assert.deepEqual(await a.expectError(() => a.fetchParticipant(r.cf, ghost)), [404, 20404]);
        assert.deepEqual(await a.expectError(() => a.updateParticipant(r.cf, ghost, { muted: true })), [404, 20404]);
        assert.deepEqual(await a.expectError(() => a.deleteParticipant(r.cf, ghost)), [404, 20404]);
        assert.deepEqual(await a.expectError(() => a.fetchParticipant(r.cf, 'no-such-label')), [404, 20404]);
      });

      it('error: unknown conference', async () => {
        assert.deepEqual(await r.a.expectError(() => r.a.fetchConference(unknownSid(style, 'CF'))), [404, 20404]);
      });

      it('error: wrong token', async () => {
        const bad = r.a.withToken('0'.repeat(32));
        assert.deepEqual(await bad.expectError(() => bad.fetchConference(r.cf)), [401, 20003]);
        assert.deepEqual(await bad.expectError(() => bad.updateParticipant(r.cf, r.sid.alice, { muted: true })), [401, 20003]);
        assert.equal((await r.a.fetchParticipant(r.cf, r.sid.alice)).muted, false);
      });

      it('error: Coaching=true without CallSidToCoach', async () => {
        const [status, code] = await r.a.expectError(() => r.a.updateParticipant(r.cf, r.sid.alice, { coaching: true }));
        assert.equal(status, 400);
        assert.equal(code, 20422);
      });

      it('error: coaching a participant on hold (16027)', async () => {
        const { a } = r;
        await a.updateParticipant(r.cf, r.sid['bob smith'], { hold: true });
        assert.deepEqual(await a.expectError(() => a.updateParticipant(r.cf, r.sid.carol,
          { coaching: true, call_sid_to_coach: r.sid['bob smith'] })), [400, 16027]);
        assert.equal((await a.fetchParticipant(r.cf, r.sid.carol)).coaching, false);
      });

      it('error: coaching a participant not present (16028)', async () => {
        assert.deepEqual(await r.a.expectError(() => r.a.updateParticipant(r.cf, r.sid.carol,
          { coaching: true, call_sid_to_coach: unknownSid(style, 'CA') })), [400, 16028]);
      });
    });
  }
}

module.exports = { runScenario };
