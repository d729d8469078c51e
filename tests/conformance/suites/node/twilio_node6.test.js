'use strict';
// twilio-node 6.x (npm `twilio`) against confab over plain HTTP (plus one HTTPS smoke test).
const fs = require('fs');
const { it } = require('node:test');
const assert = require('assert/strict');
const twilio = require('twilio');
const { NodeAdapter, loadConfig, TWILIO_PREFIX } = require('./common');
const { runScenario } = require('./scenario');
const { runCallsScenario } = require('./calls_scenario');
const { runStatusCallbackScenario } = require('./status_callbacks');

const SUITE = 'twilio-node6';
const cfg = loadConfig();

function buildClient(acct, token, baseUrl) {
  const opts = {};
  // twilio-node 6 throws "accountSid must start with AC" for a UUID: pass a placeholder AC sid
  // at construction, then set the real one (a plain property, used for /Accounts/{sid}).
  // The Basic-auth username stays the UUID.
  if (!acct.sid.startsWith('AC')) opts.accountSid = `AC${'0'.repeat(32)}`;
  if (baseUrl.startsWith('https')) opts.ca = fs.readFileSync(cfg.ca_file);
  const client = twilio(acct.sid, token, opts);
  client.accountSid = acct.sid;
  return client;
}

function makeAdapter(cfg, acct, prefix, variant, baseUrl) {
  return new NodeAdapter({ cfg, acct, prefix, variant, suite: SUITE, baseUrl: baseUrl || cfg.http_url, buildClient });
}

it('library version is 6.x', () => {
  assert.match(require('twilio/package.json').version, /^6\./);
});

it('https smoke (ca option)', async () => {
  const a = makeAdapter(cfg, cfg.accounts.twilio, TWILIO_PREFIX, 'https-smoke', cfg.https_url);
  assert.deepEqual(await a.listConferences({ friendly_name: 'no-such-room' }), []);
});

it('constructor rejects a UUID accountSid without the workaround', () => {
  assert.throws(() => twilio(cfg.accounts.signalwire.sid, 'x'), /accountSid must start with AC/);
});

runScenario({ makeAdapter, hasQueueTime: true });
runCallsScenario({ makeAdapter, validateRequest: twilio.validateRequest });
runStatusCallbackScenario({ makeAdapter, validators: [['twilio.validateRequest', twilio.validateRequest]] });
