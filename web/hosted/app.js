// The hosted selfie page: camera → one frame → the server decides → tell the integrator.
// The server is authoritative; this page only helps the user take a usable photo.
const token = location.pathname.split('/').filter(Boolean).pop();
const api = `/hosted/v1/${token}`;
const inFrame = window.parent !== window;
const $ = (id) => document.getElementById(id);
let session = null;

function post(type, data = {}) {
  // The web SDK accepts messages from the iframe's own host (contract 4.2).
  if (inFrame) window.parent.postMessage({ type, data, timestamp: Date.now() }, '*');
}

function cue(text) {
  $('cue').textContent = text;
}

function finish(status, callbackUrl) {
  document.body.className = status === 'Approved' ? 'done-approved' : 'done-declined';
  cue(status === 'Approved' ? 'Verified. You can continue.' : status === 'In Review' ? 'Thanks, we are checking your photo.' : 'We could not verify you.');
  post('didit:status_updated', { status, sessionId: session?.session_id });
  post('didit:completed', { sessionId: session?.session_id, status });
  if (!inFrame && callbackUrl) setTimeout(() => location.assign(callbackUrl), 800);
}

function fallback(reason) {
  cue(reason);
  post('didit:error', { error: 'camera_unavailable', step: 'face', sessionId: session?.session_id });
  if (session?.callback) {
    const url = new URL(session.callback);
    url.searchParams.set('verificationSessionId', session.session_id);
    url.searchParams.set('status', 'Not Finished');
    $('fallback').href = url.toString();
    $('fallback').hidden = false;
  }
}

async function capture(video) {
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.92));
  const form = new FormData();
  form.append('frame', blob, 'frame.jpg');
  post('didit:media_captured', { step: 'face', isAuto: true });
  cue('Checking…');
  const res = await fetch(`${api}/capture`, { method: 'POST', body: form });
  return { status: res.status, body: await res.json() };
}

async function run() {
  const res = await fetch(api);
  if (!res.ok) {
    cue('This verification link is not valid any more.');
    post('didit:error', { error: 'invalid_session' });
    return;
  }
  session = await res.json();
  post('didit:ready', { sessionId: session.session_id });
  if (!['Not Started', 'In Progress', 'Resubmitted'].includes(session.status)) {
    finish(session.status, null);
    return;
  }
  if (!navigator.mediaDevices?.getUserMedia) return fallback('This browser cannot use a camera.');
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'user', width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (e) {
    return fallback(e?.name === 'NotAllowedError' ? 'Camera access was denied.' : 'No camera is available.');
  }
  const video = $('camera');
  video.srcObject = stream;
  await new Promise((r) => (video.readyState >= 2 ? r() : video.addEventListener('loadeddata', r, { once: true })));
  post('didit:started', { sessionId: session.session_id });
  post('didit:step_started', { step: 'face', sessionId: session.session_id });
  for (;;) {
    cue('Hold still…');
    await new Promise((r) => setTimeout(r, 1200));
    const { status, body } = await capture(video);
    if (status !== 200) {
      cue(body.detail ?? 'Something went wrong. Please try again.');
      post('didit:error', { error: body.detail ?? `http_${status}`, step: 'face', sessionId: session.session_id });
      if (status === 409 || status === 410 || status === 404) return;
      continue;
    }
    if (body.retry) {
      cue('We could not verify that photo. Face the camera in good light and try again.');
      $('retry').hidden = false;
      await new Promise((r) => $('retry').addEventListener('click', r, { once: true }));
      $('retry').hidden = true;
      continue;
    }
    stream.getTracks().forEach((t) => t.stop());
    post('didit:step_completed', { step: 'face', sessionId: session.session_id });
    finish(body.status, body.callback_url);
    return;
  }
}

run().catch((e) => fallback(`Something went wrong: ${e.message}`));
