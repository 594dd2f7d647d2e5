// Adaptive step-up against the real worker (wrangler dev, local D1 and R2, the IP data read
// from R2): the visit's address and device choose the liveness method, a known device on a
// known address skips the selfie where the workflow allows it, and a client can't talk its way
// into a lighter method. dev.mjs trusts X-Forwarded-For from loopback only, so these requests
// (from loopback) may present any address; a "remote" client is one the platform reports by
// CF-Connecting-IP.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { burstForm, burstOf, createSession, dataDir, spawnApp } from './harness.mjs';

const AWS = '3.80.0.1'; // Amazon (AS14618, us-east-1): a data centre
const HOME = '81.2.69.142'; // Andrews & Arnold, a UK broadband provider
const PHONE_UA =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36';
const device = () => `dev_${Math.random().toString(36).slice(2).padEnd(16, 'x')}`;

let app;
before(async () => {
  app = await spawnApp();
});
after(() => app?.stop());

const visitHeaders = (ip, id, extra = {}) => ({
  'x-forwarded-for': ip,
  'x-facegate-device': id,
  'user-agent': PHONE_UA,
  ...extra,
});

async function summary(token, headers) {
  const res = await fetch(`${app.origin}/hosted/v1/${token}`, { headers });
  assert.equal(res.status, 200);
  return res.json();
}

async function decision(id) {
  const res = await fetch(`${app.baseUrl}/session/${id}/decision/`, { headers: { 'x-api-key': app.apiKey } });
  assert.equal(res.status, 200);
  return res.json();
}

async function capture(token, headers) {
  const res = await fetch(`${app.origin}/hosted/v1/${token}/capture`, { method: 'POST', body: burstForm(burstOf()), headers });
  return { status: res.status, body: await res.json() };
}

// The clips' person, as the reference of users not enrolled.
const portrait = readFileSync(join(dataDir, 'video/enroll_portrait_apfol_s1_t9.5s.jpg')).toString('base64');
const stepup = (vendor, extra = {}) =>
  createSession(app, {
    workflow_id: app.workflows.biometric_authentication_stepup,
    vendor_data: vendor,
    portrait_image: portrait,
    ...extra,
  });

test('a data-centre address escalates a new device to ACTIVE_3D; a home broadband address does not', async () => {
  const cloud = await stepup('dc-user');
  const s = await summary(cloud.session_token, visitHeaders(AWS, device()));
  assert.equal(s.liveness_method, 'ACTIVE_3D');
  assert.equal(s.step_up.rule, 'risky_network_new_device');
  const d = await decision(cloud.session_id);
  const item = d.ip_analyses[0];
  assert.equal(item.ip_address, AWS);
  assert.equal(item.is_data_center, true);
  assert.equal(item.ip_country_code, 'US');
  assert.match(item.organization ?? '', /amazon/i);
  assert.equal(item.browser_family, 'Chrome');
  assert.equal(item.os_family, 'Android');
  assert.ok(d.features.includes('IP_ANALYSIS'));

  const home = await stepup('home-user');
  const h = await summary(home.session_token, visitHeaders(HOME, device()));
  assert.equal(h.liveness_method, 'PASSIVE');
  const item2 = (await decision(home.session_id)).ip_analyses[0];
  assert.equal(item2.is_data_center, false);
  assert.equal(item2.ip_country_code, 'GB');
  assert.equal(item2.ip_country, 'United Kingdom');
});

test('a known device on a known address skips the selfie; the decision says which rule and that no check ran', async () => {
  const user = `known-${Date.now()}`;
  const id = device();
  const first = await stepup(user);
  assert.equal((await summary(first.session_token, visitHeaders(HOME, id))).liveness_method, 'PASSIVE');
  const done = await capture(first.session_token, visitHeaders(HOME, id));
  assert.equal(done.body.status, 'Approved', JSON.stringify(done.body));

  const again = await stepup(user);
  const s = await summary(again.session_token, visitHeaders(HOME, id));
  assert.equal(s.status, 'Approved');
  assert.equal(s.step_up.action, 'skip');
  const d = await decision(again.session_id);
  assert.equal(d.status, 'Approved');
  assert.deepEqual(d.liveness_checks, []);
  assert.deepEqual(d.face_matches, []);
  assert.equal(d.ip_analyses[0].step_up.rule, 'known_device_and_ip');
  assert.equal(d.ip_analyses[0].step_up.liveness_and_face_match_ran, false);
  assert.equal(d.ip_analyses[0].device_fingerprint, (await decision(first.session_id)).ip_analyses[0].device_fingerprint);

  // The same device for another user is flagged, with the session it was seen on.
  const other = await stepup(`other-${user}`);
  await summary(other.session_token, visitHeaders(HOME, id));
  const od = await decision(other.session_id);
  const risks = od.ip_analyses[0].warnings.map((w) => w.risk);
  assert.ok(risks.includes('DUPLICATED_DEVICE_FINGERPRINT'), risks.join());
  assert.ok(od.ip_analyses[0].matches.some((m) => m.vendor_data === user));
});

test('attack: frames sent from a data centre after a summary read from home are held to ACTIVE_3D', async () => {
  const s = await stepup('switcher');
  const id = device();
  assert.equal((await summary(s.session_token, visitHeaders(HOME, id))).liveness_method, 'PASSIVE');
  const sent = await capture(s.session_token, visitHeaders(AWS, id));
  assert.equal(sent.status, 400, JSON.stringify(sent.body));
  assert.equal((await summary(s.session_token, visitHeaders(HOME, id))).liveness_method, 'ACTIVE_3D');
});

test("attack: a remote client's X-Forwarded-For is ignored; the platform's address is judged", async () => {
  const s = await stepup('forger');
  // The platform says the client is at HOME; the client claims (to look like someone's home
  // network, or to hide a data centre) another address.
  const sum = await summary(s.session_token, {
    'cf-connecting-ip': AWS,
    'x-forwarded-for': HOME,
    'x-facegate-device': device(),
  });
  assert.equal(sum.liveness_method, 'ACTIVE_3D');
  assert.equal((await decision(s.session_id)).ip_analyses[0].ip_address, AWS);
});

test('the integrator states the address: a different one escalates; bad statements are 400s', async () => {
  const s = await stepup('stated', { expected_details: { ip_address: '81.2.70.0/24' } });
  const sum = await summary(s.session_token, visitHeaders(HOME, device()));
  assert.equal(sum.liveness_method, 'ACTIVE_3D');
  const risks = (await decision(s.session_id)).ip_analyses[0].warnings.map((w) => w.risk);
  assert.ok(risks.includes('EXPECTED_IP_ADDRESS_MISMATCH'));
  for (const body of [
    { expected_details: { ip_address: 'nope' } },
    { metadata: { from_ip: '999.1.1.1' } },
    { step_up: { skip_when_known: 'yes' } },
    { step_up: { unknown_rule: true } },
  ]) {
    const res = await fetch(`${app.baseUrl}/session/`, {
      method: 'POST',
      headers: { 'x-api-key': app.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ workflow_id: app.workflows.biometric_authentication_stepup, ...body }),
    });
    assert.equal(res.status, 400, JSON.stringify(body));
  }
  // An oversized or malformed device report is no report, never an error.
  const t = await stepup('odd-headers');
  const odd = await fetch(`${app.origin}/hosted/v1/${t.session_token}`, {
    headers: visitHeaders(HOME, 'short', { 'x-facegate-device-facts': '{'.repeat(4000), 'user-agent': 'x'.repeat(5000) }),
  });
  assert.equal(odd.status, 200);
});

test('a blocklisted address (a CIDR entry of the system blocklist) is Declined at once, without a capture', async () => {
  const auth = { 'x-api-key': app.apiKey, 'content-type': 'application/json' };
  const lists = await (await fetch(`${app.baseUrl}/lists/?limit=50`, { headers: auth })).json();
  const ipBlocklist = lists.results.find((l) => l.list_type === 'blocklist' && l.entry_type === 'ip_address');
  const added = await fetch(`${app.baseUrl}/lists/${ipBlocklist.uuid}/entries/`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ value: '198.51.100.0/24', comment: 'fraud ring' }),
  });
  assert.equal(added.status, 201);
  const s = await stepup('blocked-visitor');
  const sum = await summary(s.session_token, visitHeaders('198.51.100.77', device()));
  assert.equal(sum.status, 'Declined');
  const d = await decision(s.session_id);
  assert.equal(d.ip_analyses[0].step_up.rule, 'blocklisted');
  assert.ok(d.ip_analyses[0].warnings.some((w) => w.risk === 'IP_ADDRESS_IN_BLOCKLIST'));
  assert.equal((await capture(s.session_token, visitHeaders('198.51.100.77', device()))).status, 409);
});
