'use strict';
// The status-callback scenario both Node client suites run (mirrors
// pylib/status_callbacks_scenario.py). Through the client under test it scripts a conference whose
// participants subscribe every conference event (conferenceStatusCallback/-Event) and the call
// progress of their own calls (statusCallback/-Event): join, join, mute, unmute, hold, unhold,
// modify, kick, end; and places an answered and a busy call with call progress subscribed.
// webhook.js receives the callbacks; the test checks the exact sequence of events with
// consecutive SequenceNumbers, every parameter Twilio documents for each event (and nothing else),
// the X-Twilio-Signature with the library's own validateRequest(authToken, signature, url, params),
// and the I-Twilio-Idempotency-Token, User-Agent and Content-Type headers.
const { describe, it, before, after } = require('node:test');
const assert = require('assert/strict');
const { VARIANTS, loadConfig, unique, sidMatches, sleep } = require('./common');
const { WebhookReceiver } = require('./webhook');

const FROM = '+15005550006';
const HANGUP = '<Response><Hangup/></Response>';
const CONFERENCE_EVENTS = ['start', 'end', 'join', 'leave', 'mute', 'hold', 'modify', 'speaker', 'announcement'];
const CALL_EVENTS = ['initiated', 'ringing', 'answered', 'completed'];
const SETTLE_MS = 200; // how long to keep listening after the last expected callback

const CONFERENCE_COMMON = ['ConferenceSid', 'FriendlyName', 'AccountSid', 'SequenceNumber', 'Timestamp', 'StatusCallbackEvent'];
const PARTICIPANT_BLOCK = ['CallSid', 'Muted', 'Hold', 'Coaching', 'EndConferenceOnExit', 'StartConferenceOnEnter', 'ParticipantLabel'];
const LEAVE_PARAMS = ['ParticipantCallStatus', 'ReasonParticipantLeft'];
const END_PARAMS = ['ReasonConferenceEnded', 'Reason'];
const CALL_PARAMS = ['CallSid', 'AccountSid', 'From', 'To', 'Caller', 'Called', 'CallStatus', 'ApiVersion', 'Direction',
  'ForwardedFrom', 'CallerName', 'ParentCallSid', 'Timestamp', 'CallbackSource', 'SequenceNumber'];
const FINAL_CALL_PARAMS = ['CallDuration', 'Duration', 'SipResponseCode'];
const RFC2822_GMT = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} \+0000$/;

// [event, participant, parameters it must carry] of the scripted conference
const SCRIPTED_EVENTS = [
  ['participant-join', 'alice', { Muted: 'false', Hold: 'false', StartConferenceOnEnter: 'true', EndConferenceOnExit: 'false' }],
  ['participant-join', 'bob', { Muted: 'false', Hold: 'false' }],
  ['conference-start', null, {}],
  ['participant-mute', 'alice', { Muted: 'true' }],
  ['participant-unmute', 'alice', { Muted: 'false' }],
  ['participant-hold', 'bob', { Hold: 'true', Muted: 'false' }],
  ['participant-unhold', 'bob', { Hold: 'false' }],
  ['participant-modify', 'alice', { EndConferenceOnExit: 'true' }],
  ['participant-leave', 'bob', { ParticipantCallStatus: 'completed', ReasonParticipantLeft: 'participant_updated_via_api' }],
  ['participant-leave', 'alice', { ParticipantCallStatus: 'completed', ReasonParticipantLeft: 'conference_ended_via_api', EndConferenceOnExit: 'true' }],
  ['conference-end', null, { ReasonConferenceEnded: 'conference-ended-via-api' }],
];

const sortedKeys = (o) => Object.keys(o).sort();

function assertHeaders(req) {
  assert.ok(req.idempotencyToken, `no I-Twilio-Idempotency-Token on ${req.method} ${req.url}`);
  assert.match(req.headers['user-agent'] || '', /^TwilioProxy\//);
  assert.equal(req.method, 'POST');
  assert.match(req.headers['content-type'] || '', /^application\/x-www-form-urlencoded/);
}

// validates with the account's token under every validator; not with another token, URL or parameter
function assertSigned(validators, token, req) {
  assert.ok(req.signature, `no X-Twilio-Signature on ${req.method} ${req.url}`);
  for (const [name, validate] of validators) {
    assert.equal(validate(token, req.signature, req.url, req.signedParams), true,
      `${name}: X-Twilio-Signature ${req.signature} does not validate for ${req.url} ${JSON.stringify(req.signedParams)}`);
    assert.equal(validate('0'.repeat(32), req.signature, req.url, req.signedParams), false, name);
    assert.equal(validate(token, req.signature, `${req.url}&tampered=1`, req.signedParams), false, name);
    assert.equal(validate(token, req.signature, req.url, { ...req.signedParams, SequenceNumber: '999' }), false, name);
  }
}

function assertUniqueTokens(reqs) {
  const tokens = reqs.map((r) => r.idempotencyToken);
  assert.equal(new Set(tokens).size, tokens.length, `idempotency tokens repeat: ${tokens}`);
}

async function settled(hooks, tag, n, what) {
  await hooks.waitTagged(tag, (rs) => rs.length >= n, { what });
  await sleep(SETTLE_MS);
  return hooks.tagged(tag);
}

function runStatusCallbackScenario({ makeAdapter, validators }) {
  const cfg = loadConfig();
  const hooks = new WebhookReceiver();
  before(() => hooks.start());
  after(() => hooks.close());

  const check = (acct, req) => {
    assertHeaders(req);
    assertSigned(validators, acct.auth_token, req);
  };

  // call progress of one call: `statuses` in order, numbered from 0; returns the final parameters
  const checkProgress = (a, acct, reqs, callSid, to, statuses) => {
    assert.deepEqual(reqs.map((r) => r.params.CallStatus), statuses, JSON.stringify(reqs.map((r) => r.params)));
    reqs.forEach((r, i) => {
      const p = r.params;
      check(acct, r);
      const final = i === reqs.length - 1;
      const allowed = CALL_PARAMS.concat(final ? FINAL_CALL_PARAMS : []);
      const unexpected = Object.keys(p).filter((k) => !allowed.includes(k));
      assert.deepEqual(unexpected, [], `unexpected parameters ${unexpected}`);
      // Duration (minutes) is documented for completed only
      const missing = allowed.filter((k) => !(k in p) && k !== 'Duration');
      assert.deepEqual(missing, [], `call progress parameters missing: ${missing}`);
      assert.equal(p.SequenceNumber, String(i));
      assert.equal(p.CallbackSource, 'call-progress-events');
      assert.deepEqual([p.CallSid, p.AccountSid, p.From, p.To, p.Caller, p.Called], [callSid, a.accountSid, FROM, to, FROM, to]);
      assert.deepEqual([p.ApiVersion, p.Direction], ['2010-04-01', 'outbound-api']);
      assert.match(p.Timestamp, RFC2822_GMT);
      if (final) assert.match(p.CallDuration, /^\d+$/);
    });
    assertUniqueTokens(reqs);
    return reqs[reqs.length - 1].params;
  };

  for (const [vid, style, prefix] of VARIANTS) {
    describe(`status callbacks ${vid}`, () => {
      const acct = cfg.accounts[style];
      let a;
      before(() => { a = makeAdapter(cfg, acct, prefix, vid); });

      const join = (room, label, confUrl, callTag) => a.createParticipant(room, FROM, `sim:${label}`, {
        label, beep: 'false', conference_status_callback: confUrl, conference_status_callback_event: CONFERENCE_EVENTS,
        status_callback: hooks.url('/status/call', { tag: callTag }), status_callback_event: CALL_EVENTS,
      });

      it('scripted conference: every event in order, signed, numbered from 1', async () => {
        const room = unique('cbroom');
        const tag = unique('conf');
        const confUrl = hooks.url('/status/conf', { tag });
        const callTags = { alice: unique('alice'), bob: unique('bob') };
        // each join is awaited through its callback (a queued LaML participant already reads in-progress)
        const alice = await join(room, 'alice', confUrl, callTags.alice);
        await hooks.waitTagged(tag, (rs) => rs.length >= 1, { what: 'participant-join of alice' });
        const bob = await join(room, 'bob', confUrl, callTags.bob);
        await hooks.waitTagged(tag, (rs) => rs.length >= 3, { what: 'participant-join of bob, conference-start' });
        const cf = alice.conference_sid;
        const sids = { alice: alice.call_sid, bob: bob.call_sid };
        assert.equal(bob.conference_sid, cf);
        assert.ok(sidMatches(style, 'CF', cf) && sidMatches(style, 'CA', sids.alice), `${cf} ${sids.alice}`);

        await a.updateParticipant(cf, sids.alice, { muted: true });
        await a.updateParticipant(cf, sids.alice, { muted: false });
        await a.updateParticipant(cf, sids.bob, { hold: true });
        await a.updateParticipant(cf, sids.bob, { hold: false });
        await a.updateParticipant(cf, sids.alice, { end_conference_on_exit: true });
        assert.equal(await a.deleteParticipant(cf, sids.bob), true); // kick
        await a.updateConference(cf, { status: 'completed' }); // end

        const got = await settled(hooks, tag, SCRIPTED_EVENTS.length, "the scripted conference's callbacks");
        assert.deepEqual(got.map((r) => [r.event, r.params.CallSid || null]),
          SCRIPTED_EVENTS.map(([e, who]) => [e, who ? sids[who] : null]), JSON.stringify(got.map((r) => r.params)));
        got.forEach((r, i) => {
          const [event, who, want] = SCRIPTED_EVENTS[i];
          const p = r.params;
          check(acct, r);
          assert.equal(p.SequenceNumber, String(i + 1));
          assert.deepEqual([p.ConferenceSid, p.FriendlyName, p.AccountSid], [cf, room, a.accountSid]);
          assert.match(p.Timestamp, RFC2822_GMT);
          let allowed = CONFERENCE_COMMON;
          if (who) {
            allowed = allowed.concat(PARTICIPANT_BLOCK);
            assert.equal(p.ParticipantLabel, who);
            assert.equal(p.Coaching, 'false');
          }
          if (event === 'participant-leave') allowed = allowed.concat(LEAVE_PARAMS);
          if (event === 'conference-end') {
            allowed = allowed.concat(END_PARAMS);
            assert.ok(p.Reason);
          }
          assert.deepEqual(sortedKeys(p), [...allowed].sort(), event);
          for (const [k, v] of Object.entries(want)) assert.equal(p[k], v, `${event} ${k}`);
        });
        assertUniqueTokens(got);

        for (const label of ['alice', 'bob']) {
          const reqs = await settled(hooks, callTags[label], 4, `call progress of ${label}`);
          const final = checkProgress(a, acct, reqs, sids[label], `sim:${label}`, ['initiated', 'ringing', 'in-progress', 'completed']);
          assert.equal(final.SipResponseCode, '200');
        }
      });

      it('call progress of an answered call, numbered from 0', async () => {
        const tag = unique('answered');
        const to = `sim:${unique('ok')}`;
        const call = await a.createCall(to, FROM, {
          twiml: HANGUP, status_callback: hooks.url('/status/call', { tag }), status_callback_event: CALL_EVENTS,
        });
        const reqs = await settled(hooks, tag, 4, 'call progress of an answered call');
        const final = checkProgress(a, acct, reqs, call.sid, to, ['initiated', 'ringing', 'in-progress', 'completed']);
        assert.equal(final.SipResponseCode, '200');
      });

      it('call progress of a busy call', async () => {
        const tag = unique('busy');
        const to = `sim:${unique('b')}?busy`;
        const call = await a.createCall(to, FROM, {
          twiml: HANGUP, status_callback: hooks.url('/status/call', { tag }), status_callback_event: CALL_EVENTS,
        });
        const reqs = await settled(hooks, tag, 3, 'call progress of a busy call');
        const final = checkProgress(a, acct, reqs, call.sid, to, ['initiated', 'ringing', 'busy']);
        assert.deepEqual([final.SipResponseCode, final.CallDuration], ['486', '0']);
      });
    });
  }
}

module.exports = { runStatusCallbackScenario };
