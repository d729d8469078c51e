'use strict';
// @signalwire/compatibility-api 3.x (a bundled twilio-node 3.x fork) against confab over HTTPS
// with the generated certificate (trusted via NODE_EXTRA_CA_CERTS, which the harness sets),
// plus one plain-HTTP smoke test.
const { it } = require('node:test');
const assert = require('assert/strict');
const { RestClient } = require('@signalwire/compatibility-api');
const { NodeAdapter, loadConfig, LAML_PREFIX } = require('./common');
const { runScenario } = require('./scenario');
const { runCallsScenario } = require('./calls_scenario');
const { runStatusCallbackScenario } = require('./status_callbacks');

const SUITE = 'compat-api3';
const cfg = loadConfig();

function buildClient(acct, token, baseUrl) {
  // signalwireSpaceUrl is host[:port] only (the client prepends https://)
  return RestClient(acct.sid, token, { signalwireSpaceUrl: new URL(baseUrl).host });
}

function makeAdapter(cfg, acct, prefix, variant, baseUrl) {
  return new NodeAdapter({ cfg, acct, prefix, variant, suite: SUITE, baseUrl: baseUrl || cfg.https_url, buildClient });
}

it('library version is 3.2.x', () => {
  const main = require.resolve('@signalwire/compatibility-api');
  const pkg = main.slice(0, main.indexOf('/@signalwire/compatibility-api/')) + '/@signalwire/compatibility-api/package.json';
  assert.match(JSON.parse(require('fs').readFileSync(pkg, 'utf8')).version, /^3\.2\./);
});

it('default base URL is https://host', () => {
  const c = buildClient(cfg.accounts.signalwire, 'x', cfg.http_url);
  assert.equal(c.api.baseUrl, `https://${new URL(cfg.http_url).host}`);
});

it('plain HTTP smoke (baseUrl override)', async () => {
  const a = makeAdapter(cfg, cfg.accounts.signalwire, LAML_PREFIX, 'http-smoke', cfg.http_url);
  assert.deepEqual(await a.listConferences({ friendly_name: 'no-such-room' }), []);
});

runScenario({ makeAdapter, hasQueueTime: false });
// the library copies its helpers onto RestClient: RestClient.validateRequest(authToken, signature, url, params)
runCallsScenario({ makeAdapter, validateRequest: RestClient.validateRequest });
runStatusCallbackScenario({ makeAdapter, validators: [['RestClient.validateRequest', RestClient.validateRequest]] });
