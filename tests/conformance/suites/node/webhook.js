'use strict';
// A small webhook receiver for the Calls and status-callback scenarios (mirrors pylib/webhook.py):
// listens on 127.0.0.1:0, records every request confab makes (method, full URL, headers, form
// body, query), and answers
//   /voice?room=NAME  <Response><Dial><Conference>NAME</Conference></Dial></Response>
//   /pause            <Response><Pause length="120"/></Response>
//   /status...        204 No Content (a status callback), or the status given as `answer=CODE`
//   anything else     <Response><Hangup/></Response>
// Status callbacks are told apart by a `tag` query parameter the scenario puts into each callback
// URL (`url('/status/conf', { tag })`): `tagged(tag)` / `waitTagged(tag, done)`.
const http = require('http');
const { URL, URLSearchParams } = require('url');

const escapeXml = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const dialConference = (room) => `<Response><Dial><Conference>${escapeXml(room)}</Conference></Dial></Response>`;

function flat(searchParams) {
  const out = {};
  for (const [k, v] of searchParams) {
    if (k in out) out[k] = [].concat(out[k], v);
    else out[k] = v;
  }
  return out;
}

class WebhookReceiver {
  constructor() {
    this.requests = [];
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const u = new URL(req.url, this.base);
        const form = req.method === 'POST' && /x-www-form-urlencoded/.test(req.headers['content-type'] || '')
          ? flat(new URLSearchParams(body)) : {};
        const query = flat(u.searchParams);
        const rec = {
          method: req.method,
          url: this.base + req.url, // the full URL as confab requested it (what it must have signed)
          headers: req.headers,
          form,
          query,
          params: req.method === 'POST' ? form : query,
          signedParams: req.method === 'POST' ? form : {},
          signature: req.headers['x-twilio-signature'],
          idempotencyToken: req.headers['i-twilio-idempotency-token'],
          body,
        };
        // what a status callback reports: StatusCallbackEvent (conference) or CallStatus (call progress)
        rec.event = rec.params.StatusCallbackEvent || rec.params.CallStatus;
        this.requests.push(rec);
        if (u.pathname.startsWith('/status')) {
          const code = /^\d+$/.test(query.answer || '') ? Number(query.answer) : 204;
          if (code === 204) {
            res.writeHead(204);
            res.end();
          } else {
            const text = Buffer.from(`status ${code} from the test receiver`);
            res.writeHead(code, { 'Content-Type': 'text/plain', 'Content-Length': text.length });
            res.end(text);
          }
          return;
        }
        let twiml = '<Response><Hangup/></Response>';
        if (u.pathname === '/voice' && query.room) twiml = dialConference(query.room);
        else if (u.pathname === '/pause') twiml = '<Response><Pause length="120"/></Response>';
        const data = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>${twiml}`);
        res.writeHead(200, { 'Content-Type': 'text/xml', 'Content-Length': data.length });
        res.end(data);
      });
    });
  }

  start() {
    return new Promise((resolve) => {
      this.server.listen(0, '127.0.0.1', () => {
        this.port = this.server.address().port;
        this.base = `http://127.0.0.1:${this.port}`;
        resolve(this);
      });
    });
  }

  url(path = '/voice', query) {
    const qs = query ? `?${new URLSearchParams(query).toString()}` : '';
    return `${this.base}${path}${qs}`;
  }

  forCall(sid) { return this.requests.filter((r) => r.params.CallSid === sid); }

  async waitForCall(sid, timeout = 10000) {
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      const got = this.forCall(sid);
      if (got.length) return got[0];
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no webhook request for call ${sid} within ${timeout}ms (received: ${JSON.stringify(this.requests.map((r) => [r.method, r.url]))})`);
  }

  // the requests to a URL made with url(..., { tag }), in arrival order
  tagged(tag) { return this.requests.filter((r) => r.query.tag === tag); }

  async waitTagged(tag, done, { timeout = 10000, what = 'callbacks' } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const got = this.tagged(tag);
      if (done(got)) return got;
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeout}ms waiting for ${what} (tag ${tag} received: ${JSON.stringify(got.map((r) => r.event))})`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close() {
    this.server.closeAllConnections?.();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

module.exports = { WebhookReceiver, dialConference };
