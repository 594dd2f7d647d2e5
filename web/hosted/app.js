// The hosted selfie page: camera → live cues from capture-wasm's checks in a Web Worker → a
// burst of the steady moment → the server decides → tell the integrator. The server is
// authoritative; everything here only helps the user's first try succeed.
import { ENGLISH, isRtl, loadStrings, pickLanguage, translator } from './i18n.js';

const token = location.pathname.split('/').filter(Boolean).pop();
const api = `/hosted/v1/${token}`;
const inFrame = window.parent !== window;
// Opened from the desktop page's QR code: this phone is the completing device.
const handoff = new URLSearchParams(location.search).has('handoff');
const lang = pickLanguage(location.pathname, navigator.languages ?? [navigator.language]);
let t = translator(ENGLISH);
const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ACTIVE = ['Not Started', 'In Progress', 'Resubmitted'];
// Without a steady good frame by then, take the burst anyway: the server has the last word.
const GUIDE_PATIENCE_MS = 12_000;
// A passive workflow is decided from a burst, not one photo: the server compares consecutive
// frames (the face moving against its surroundings, the landmarks moving as a head does, the
// same person throughout), so they must be real camera frames spread over about a second. The
// protocol its thresholds were calibrated on (crates/pipeline/CALIBRATION.md, "Multi-frame
// capture"): 8 frames one every ~130 ms (every 4th at 30 fps), 640x480, JPEG ~q0.85.
const BURST_FRAMES = 8;
const BURST_INTERVAL_MS = 130;
// The longest side the server was calibrated on; it refuses frames outside 480-1280 px.
const BURST_LONGEST_SIDE = 640;
const BURST_JPEG_QUALITY = 0.85;
// Where the browser cannot say when the camera shows a new frame, draw anyway after this.
const NEW_FRAME_WAIT_MS = 120;
// The first-party device id: random, kept in this origin's storage (inside an integrator's
// iframe the browser keeps it per integrator site, which suits: devices are per application).
// The server keys it per application before it stores or shows anything of it.
const DEVICE_KEY = 'facegate.device';

function deviceId() {
  const fresh = () => {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };
  try {
    let id = localStorage.getItem(DEVICE_KEY);
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(id ?? '')) {
      id = fresh();
      localStorage.setItem(DEVICE_KEY, id);
    }
    return id;
  } catch {
    // Storage refused (private mode, blocked third-party storage): a device for this page only.
    return (deviceId.once ??= fresh());
  }
}

/** The device id and the coarse facts the server checks the user agent against; they only
 * corroborate, so only what the page can tell for sure is sent (no OS guess). */
function deviceHeaders() {
  const coarse = matchMedia('(pointer: coarse)').matches;
  const fine = matchMedia('(pointer: fine)').matches;
  const short = Math.min(screen.width, screen.height);
  const platform = coarse && !fine ? (short < 600 ? 'mobile' : 'tablet') : fine && !coarse ? 'desktop' : undefined;
  const facts = { platform, screen_width: screen.width, screen_height: screen.height };
  return { 'x-facegate-device': deviceId(), 'x-facegate-device-facts': JSON.stringify(facts) };
}

// Milliseconds since navigation, for scripts/bench-hosted.mjs and the browser tests.
const timings = {};
const checkTimes = [];
// When each burst frame was drawn (ms since navigation), and its JPEG sizes: the last burst.
const burst = { drawnAt: [], bytes: [] };
window.__facegate = { timings, checkTimes, burst };
const mark = (name) => {
  timings[name] ??= Math.round(performance.now());
};

let session = null;

function localise() {
  document.documentElement.lang = lang;
  document.documentElement.dir = isRtl(lang) ? 'rtl' : 'ltr';
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  $('camera').setAttribute('aria-label', t('camera_label'));
  document.title = t('title');
}

/** The embedding page's origin, when the browser tells it. */
function parentOrigin() {
  const ancestor = location.ancestorOrigins?.[0];
  if (ancestor) return ancestor;
  try {
    return document.referrer ? new URL(document.referrer).origin : null;
  } catch {
    return null;
  }
}

function post(type, data = {}) {
  // The web SDK accepts messages from the iframe's own host (contract 4.2).
  if (!inFrame) return;
  const message = { type, data, timestamp: Date.now() };
  const allowed = session?.allowed_origins;
  // The application did not restrict its embedders: any origin may listen, as with Didit.
  if (!Array.isArray(allowed)) return window.parent.postMessage(message, '*');
  const origins = allowed.map((o) => o.replace(/\/+$/, ''));
  const parent = parentOrigin();
  if (parent) {
    if (origins.includes(parent)) window.parent.postMessage(message, parent);
    return;
  }
  // Origin unknown (no referrer): the browser delivers only to a parent on a listed origin.
  for (const origin of origins) window.parent.postMessage(message, origin);
}

let lastCue = null;
function say(key, vars) {
  // Screen readers hear a cue once, not at every checked frame.
  if (key === lastCue && !vars) return;
  lastCue = key;
  $('cue').textContent = t(key, vars);
}

function setState(state) {
  document.body.dataset.state = state;
}

function finish(status, callbackUrl) {
  mark('result');
  $('handoff').hidden = true;
  $('cancel').hidden = true;
  setState(status === 'Approved' ? 'approved' : 'declined');
  say(status === 'Approved' ? 'approved' : status === 'In Review' ? 'in_review' : 'declined');
  $('cue').focus();
  post('didit:status_updated', { status, sessionId: session?.session_id });
  post('didit:completed', { sessionId: session?.session_id, status });
  if (inFrame || !callbackUrl || !returnsHere()) return;
  setTimeout(() => {
    say('redirecting');
    location.assign(callbackUrl);
  }, 800);
}

/** Whether this device goes back to the integrator (contract: `callback_method`). */
function returnsHere() {
  const method = session?.callback_method ?? 'initiator';
  return method === 'both' || (handoff ? method === 'completer' : true);
}

/** The integrator's callback for a user who leaves without a selfie. */
function notFinishedUrl() {
  if (!session?.callback) return null;
  const url = new URL(session.callback);
  url.searchParams.set('verificationSessionId', session.session_id);
  url.searchParams.set('status', 'Not Finished');
  return url.toString();
}

function fail(key, error) {
  setState('error');
  say(key);
  $('cancel').hidden = true;
  post('didit:error', { error, step: 'face', sessionId: session?.session_id });
  const url = notFinishedUrl();
  if (url) {
    $('fallback').href = url;
    $('fallback').hidden = false;
  }
}

/** The user gives up: the web SDK closes its modal; top-level, back to the integrator. */
function offerCancel(stop) {
  $('cancel').hidden = false;
  $('cancel').addEventListener(
    'click',
    () => {
      stop();
      post('didit:cancelled', { sessionId: session?.session_id });
      const url = notFinishedUrl();
      if (!inFrame && url) location.assign(url);
    },
    { once: true },
  );
}

/** Desktop: offer the phone, and follow the session there to its end. */
function offerPhone() {
  const desktop = matchMedia('(pointer: fine)').matches && !matchMedia('(pointer: coarse)').matches;
  if (!desktop || handoff) return;
  $('qr').src = `${api}/qr.svg`;
  $('qr').alt = t('phone_title');
  $('handoff').hidden = false;
  (async () => {
    for (;;) {
      await sleep(3000);
      const res = await fetch(api, { headers: deviceHeaders() }).catch(() => null);
      if (!res?.ok || document.body.dataset.state === 'checking') continue;
      const now = await res.json();
      if (!ACTIVE.includes(now.status) && ['loading', 'camera', 'steady', 'error'].includes(document.body.dataset.state)) {
        stopCamera();
        finish(now.status, now.callback_url);
        return;
      }
    }
  })();
}

// ------------------------------------------------------------------ capture-wasm

// The smallest module using a SIMD instruction (as wasm-feature-detect does).
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);
let wasm = null;

/** Compiles capture-wasm once; this page uses its camera half, the worker its checks half. */
async function loadCaptureWasm() {
  const simd = WebAssembly.validate(SIMD_PROBE);
  const base = new URL(`/hosted/capture/${simd ? 'simd' : 'nosimd'}/`, location.href).href;
  const [glue, module] = await Promise.all([
    import(`${base}facegate_capture.js`),
    WebAssembly.compileStreaming(fetch(`${base}facegate_capture_bg.wasm`)),
  ]);
  await glue.default({ module_or_path: module });
  mark('wasm_ready');
  window.__facegate.simd = simd;
  return { glue, module, simd, glueUrl: `${base}facegate_capture.js` };
}

const MODELS = ['/hosted/models/yunet.onnx', '/hosted/models/minifasnet_v2.onnx'];

/** The client models' bytes, fetched while capture-wasm compiles. */
function fetchModels() {
  return Promise.all(
    MODELS.map(async (url) => {
      const res = await fetch(url);
      if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
      return res.arrayBuffer();
    }),
  );
}

/** The checking worker: YuNet + MiniFASNetV2 on each frame, off the main thread. */
function startChecks(capture, models) {
  const worker = new Worker('/hosted/checks.worker.js', { type: 'module' });
  let pending = null;
  const ready = new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => {
      if (data.type === 'ready') resolve(data);
      else if (data.type === 'result') pending?.resolve(data);
      else if (data.type === 'error') (pending ?? { reject }).reject(new Error(data.message));
      if (data.type !== 'ready') pending = null;
    };
    worker.onerror = (e) => reject(new Error(e.message || 'the checking worker failed'));
  });
  worker.postMessage({ type: 'init', module: capture.module, glue: capture.glueUrl, models }, models);
  return {
    ready,
    check(frame) {
      return new Promise((resolve, reject) => {
        pending = { resolve, reject };
        // Transferred, not copied: the burst is drawn from the video afresh, so the page
        // never needs a checked frame again.
        worker.postMessage({ type: 'frame', pixels: frame.data, width: frame.width, height: frame.height }, [frame.data.buffer]);
      });
    },
    stop: () => worker.terminate(),
  };
}

// ------------------------------------------------------------------ camera and frames

const video = $('camera');
const canvas = document.createElement('canvas');

/** A frame's pixels for the checks, which exist only with capture-wasm. */
function grab() {
  return wasm.glue.grabFrame(video, canvas) ?? null;
}

async function openCamera() {
  if (wasm) return wasm.glue.openCamera(video);
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'user', width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  video.srcObject = stream;
  await video.play();
}

function stopCamera() {
  if (wasm) wasm.glue.stopCamera(video);
  else video.srcObject?.getTracks().forEach((track) => track.stop());
}

/** Resolves when the camera shows its next frame, or after `NEW_FRAME_WAIT_MS` where the
 * browser cannot tell (no requestVideoFrameCallback, or a video it does not paint). */
function nextVideoFrame() {
  if (!video.requestVideoFrameCallback) return sleep(0);
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, NEW_FRAME_WAIT_MS);
    video.requestVideoFrameCallback(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * The burst of a passive capture: `BURST_FRAMES` frames of the live video, one every
 * `BURST_INTERVAL_MS`, drawn as they come and encoded meanwhile. The "hold still" cue stays up
 * until the last one is drawn.
 */
async function takeBurst() {
  say('hold_still');
  mark('burst');
  // Every frame the same size (the server refuses a mix), scaled to the calibrated size.
  const scale = BURST_LONGEST_SIDE / Math.max(video.videoWidth, video.videoHeight);
  const width = Math.round(video.videoWidth * scale);
  const height = Math.round(video.videoHeight * scale);
  if (!width || !height) throw new Error('the camera shows no picture');
  burst.drawnAt = [];
  const encoded = [];
  const start = performance.now();
  for (let i = 0; i < BURST_FRAMES; i++) {
    // Paced from the start, not from the previous frame: slow encodes do not stretch the burst.
    await sleep(start + i * BURST_INTERVAL_MS - performance.now());
    // A frame the camera has not shown yet: the server reads a repeated picture as a still.
    await nextVideoFrame();
    const c = document.createElement('canvas');
    c.width = width;
    c.height = height;
    // The raw (unmirrored) stream, as the server's models expect it.
    c.getContext('2d').drawImage(video, 0, 0, width, height);
    burst.drawnAt.push(Math.round(performance.now()));
    // Encoded off the main thread while the next frame is awaited.
    encoded.push(
      new Promise((resolve, reject) =>
        c.toBlob((b) => (b ? resolve(b) : reject(new Error('frame capture failed'))), 'image/jpeg', BURST_JPEG_QUALITY),
      ),
    );
  }
  const blobs = await Promise.all(encoded);
  burst.bytes = blobs.map((b) => b.size);
  return blobs;
}

/**
 * Checks frames until the guide says the user is ready, and returns the figures of the best
 * frame of that steady moment. Without the checks (they failed to load), waits a moment.
 */
async function guide(checks) {
  if (!checks) {
    say('hold_still');
    await sleep(1200);
    return { checks: 'unavailable' };
  }
  const giveUpAt = performance.now() + GUIDE_PATIENCE_MS;
  let best = null;
  for (;;) {
    const frame = grab();
    if (!frame) {
      await sleep(50);
      continue;
    }
    const result = await checks.check(frame);
    checkTimes.push(result.ms);
    mark('first_cue');
    // Only frames of the current good streak compete; a problem starts a new one.
    if (result.score <= 0) best = null;
    else if (!best || result.score >= best.result.score) best = { result };
    setState(result.score > 0 ? 'steady' : 'camera');
    say(result.cue === 'ready' ? 'hold_still' : result.cue);
    if (result.cue === 'ready' || performance.now() > giveUpAt) {
      const { cue, score, check } = (best ?? { result }).result;
      return { cue, score, live: check.live, faces: check.faces, quality: check.quality, check_ms: result.ms, simd: wasm.simd };
    }
  }
}

async function submit(form) {
  mark('capture');
  setState('checking');
  say('checking');
  post('didit:media_captured', { step: 'face', isAuto: true });
  const res = await fetch(`${api}/capture`, { method: 'POST', body: form, headers: deviceHeaders() });
  return { status: res.status, body: await res.json().catch(() => ({})) };
}

/** A challenge the server asked for in place of deciding a borderline burst (escalation). */
let escalation = null;

/** One try: a passive burst, the server's active challenge, or the challenge escalation asked for. */
async function attempt(checks) {
  const figures = await guide(checks);
  let form;
  if (escalation) {
    // The server found the last burst borderline and asked for this challenge instead of
    // deciding: it is answered now, while the user is still in place.
    const challenge = escalation;
    escalation = null;
    const { runChallenge } = await import('./challenge.js');
    form = await runChallenge({ challenge, video, stage: $('stage'), say });
  } else if (['FLASHING', 'ACTIVE_3D'].includes(session.liveness_method)) {
    // Asked for only now that the face is in place: the sequence is fresh for this try.
    const res = await fetch(`${api}/challenge`, { method: 'POST' });
    if (!res.ok) return { status: res.status, body: await res.json().catch(() => ({})) };
    const [{ runChallenge }, challenge] = await Promise.all([import('./challenge.js'), res.json()]);
    form = await runChallenge({ challenge, video, stage: $('stage'), say, api });
  } else {
    // The user is steady now: the burst starts at once, while they still are.
    form = new FormData();
    const blobs = await takeBurst();
    blobs.forEach((blob, i) => form.append('burst', blob, `burst-${i}.jpg`));
  }
  form.append('precheck', JSON.stringify(figures));
  return submit(form);
}

async function fetchSummary() {
  const res = await fetch(api, { headers: deviceHeaders() });
  return res.ok ? res.json() : null;
}

/** The application's branding (`GET/PATCH /v3/customization/`): PNG data URIs the server
 * re-encoded and `#rrggbb` colours it checked, checked again here and set as properties and
 * attributes, never as markup. */
function brand(b) {
  if (!b) return;
  const colour = (c) => /^#[0-9a-f]{6}$/.test(c ?? '');
  const png = (u) => /^data:image\/png;base64,[A-Za-z0-9+/=]+$/.test(u ?? '');
  if (colour(b.primary_color)) document.documentElement.style.setProperty('--accent', b.primary_color);
  if (colour(b.background_color)) document.body.style.background = b.background_color;
  if (colour(b.text_color)) document.body.style.color = b.text_color;
  if (png(b.logo)) {
    $('brand').src = b.logo;
    $('brand').alt = b.title ?? '';
    $('brand').hidden = false;
  }
  if (png(b.favicon)) document.querySelector('link[rel=icon]').href = b.favicon;
  if (b.title) document.title = `${b.title} · ${document.title}`;
}

async function run() {
  t = translator(await loadStrings(lang));
  localise();
  session = await fetchSummary();
  if (!session) {
    setState('error');
    say('invalid_link');
    post('didit:error', { error: 'invalid_session' });
    return;
  }
  brand(session.branding);
  post('didit:ready', { sessionId: session.session_id });
  if (!ACTIVE.includes(session.status)) {
    // A known device on a known address was approved by this very read (step-up's skip):
    // back to the integrator as after a selfie. Any other finished session just says so.
    finish(session.status, session.step_up?.action === 'skip' ? session.callback_url : null);
    return;
  }
  offerPhone();
  if (!navigator.mediaDevices?.getUserMedia) return fail('unsupported', 'camera_unavailable');
  say('starting');
  // The checks are a help, not a requirement: without them the page still takes the burst.
  const [loaded, models] = await Promise.all([loadCaptureWasm(), fetchModels()]).catch(() => []);
  wasm = loaded ?? null;
  const checks = wasm ? startChecks(wasm, models) : null;
  try {
    await openCamera();
  } catch (e) {
    checks?.stop();
    return fail(e?.name === 'NotAllowedError' ? 'camera_denied' : 'no_camera', 'camera_unavailable');
  }
  mark('camera_ready');
  offerCancel(() => {
    checks?.stop();
    stopCamera();
  });
  // Show the whole frame, as the checks see it, so that the oval and the cues agree.
  if (video.videoWidth) $('stage').style.aspectRatio = `${video.videoWidth} / ${video.videoHeight}`;
  setState('camera');
  say('loading');
  const ready = await checks?.ready.catch(() => null);
  if (ready) mark('checks_ready');
  post('didit:started', { sessionId: session.session_id });
  post('didit:step_started', { step: 'face', sessionId: session.session_id });
  for (;;) {
    const { status, body } = await attempt(ready ? checks : null);
    if (status !== 200) {
      setState('error');
      say('error');
      post('didit:error', { error: body.detail ?? `http_${status}`, step: 'face', sessionId: session.session_id });
      if ([404, 410].includes(status)) return;
      // A refused frame is an attempt, and the last one decides the session; a 409 means it
      // was decided elsewhere (the phone of a QR hand-off). Either way the server says how it ended.
      const now = await fetchSummary();
      if (now && !ACTIVE.includes(now.status)) {
        checks?.stop();
        stopCamera();
        finish(now.status, now.callback_url);
        return;
      }
      await sleep(1500);
      continue;
    }
    if (body.escalated && body.challenge) {
      // Not a failure and not an attempt: one more check, straight away.
      escalation = body.challenge;
      continue;
    }
    if (body.retry) {
      mark('result');
      setState('declined');
      say('retry_prompt');
      if (body.attempts_left != null) $('attempts').textContent = t('attempts_left', { n: body.attempts_left });
      $('retry').hidden = false;
      $('retry').focus();
      await new Promise((r) => $('retry').addEventListener('click', r, { once: true }));
      $('retry').hidden = true;
      $('attempts').textContent = '';
      continue;
    }
    checks?.stop();
    stopCamera();
    $('cancel').hidden = true;
    post('didit:step_completed', { step: 'face', sessionId: session.session_id });
    finish(body.status, body.callback_url);
    return;
  }
}

run().catch((e) => {
  console.error(e);
  fail('error', 'unexpected');
});
