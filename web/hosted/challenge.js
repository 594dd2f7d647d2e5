// Active liveness challenges on the hosted page. The server chose the sequence; this module
// only shows it, films the face while it runs, and returns the form for
// POST /hosted/v1/{token}/capture. The server decides.
//
// FLASHING comes whole and is answered in one upload. ACTIVE_3D is revealed one step at a
// time (`challenge.step`): each step's frames go to POST {api}/challenge/{id}/steps/{n} as
// soon as the hold is over, and the answer reveals the next step. The server times the frames
// by its own clock, so the page films at the revealed cadence and sends at once.
//
//   const form = await runChallenge({ challenge, video, stage, say, api });
//   form.append('precheck', …) // optional
//   await fetch(`/hosted/v1/${token}/capture`, { method: 'POST', body: form });
//
// Styles are inline: nothing to load (the page's CSP allows only 'self').

/** Frames are sent this wide: the best one is also embedded and checked for passive liveness,
 * which lose accuracy on faces much under 100 px; the others only need the detector. */
const FRAME_WIDTH = 480;
const JPEG_QUALITY = 0.85;
/** The server refuses more (crates/sessions/src/frames.rs). */
const MAX_FRAMES = 16;
/** After a colour appears, wait for the screen and the camera to catch up before a frame. */
const FLASH_SETTLE_MS = 180;
/** Time given to turn the head before the hold begins (a turn takes about half a second). */
const TURN_MS = 1000;
/** Frames of the first (straight) step kept for the final capture: passive liveness and the
 * face match run on the best of them. */
const FINAL_FRAMES = 3;
/** The photosensitivity warning stays this long before the first flash. */
const FLASH_WARNING_MS = 2500;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

/**
 * Runs `challenge` (FLASHING: {id, method, steps}; ACTIVE_3D: {id, method, total_steps, step},
 * the first step revealed) with the camera `video`,
 * drawing over `stage`, announcing cues through `say(key)`. Resolves to the FormData to post.
 */
export async function runChallenge({ challenge, video, stage, say, api }) {
  const camera = frameGrabber(video);
  let shots;
  if (challenge?.method === 'ACTIVE_3D' && challenge.step) {
    shots = await runSteps(challenge, { camera, stage, say, api });
  } else if (!challenge || !Array.isArray(challenge.steps) || challenge.steps.length === 0) {
    throw new Error('runChallenge: no challenge steps');
  } else if (challenge.method === 'FLASHING') {
    shots = await runFlashing(challenge.steps, { camera, video, stage, say });
  } else {
    throw new Error(`runChallenge: unknown method ${challenge.method}`);
  }
  const form = new FormData();
  form.append('challenge_id', challenge.id);
  shots.slice(0, MAX_FRAMES).forEach((shot, i) => form.append('frames', shot.blob, `frame-${i}.jpg`));
  form.append('steps', JSON.stringify(shots.slice(0, MAX_FRAMES).map(({ step, t }) => ({ step, t }))));
  return form;
}

/** Grabs downscaled JPEG frames from the raw (unmirrored) camera stream. */
function frameGrabber(video) {
  const canvas = document.createElement('canvas');
  const start = performance.now();
  return async function grab(step) {
    const w = video.videoWidth || FRAME_WIDTH;
    const h = video.videoHeight || Math.round((FRAME_WIDTH * 3) / 4);
    canvas.width = Math.min(FRAME_WIDTH, w);
    canvas.height = Math.round((canvas.width * h) / w);
    canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
    const t = Math.round(performance.now() - start);
    const blob = await new Promise((resolve, reject) =>
      canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('frame capture failed'))), 'image/jpeg', JPEG_QUALITY),
    );
    return { step, t, blob };
  };
}

function element(tag, style, parent) {
  const el = document.createElement(tag);
  Object.assign(el.style, style);
  if (parent) parent.appendChild(el);
  return el;
}

// ------------------------------------------------------------------ FLASHING

async function runFlashing(steps, { camera, video, stage, say }) {
  // Photosensitivity: warn before anything flashes, and give time to look away.
  say('flash_warning');
  await sleep(FLASH_WARNING_MS);
  say('flash_intro');
  const overlay = element(
    'div',
    {
      position: 'fixed', inset: '0', zIndex: '2147483000', background: '#000', transition: 'none',
      display: 'flex', alignItems: 'center', justifyContent: 'center',
    },
    document.body,
  );
  overlay.setAttribute('aria-hidden', 'true');
  // Keep the user's face visible in a small window, so they stay in frame without the preview
  // itself lighting the face in other colours.
  const preview = element(
    'video',
    {
      width: '34vmin', height: '34vmin', flex: 'none',
      transform: 'scaleX(-1)', objectFit: 'cover', borderRadius: '50%',
      border: '3px solid rgba(255,255,255,0.9)',
    },
    overlay,
  );
  preview.muted = true;
  preview.playsInline = true;
  preview.srcObject = video.srcObject;
  preview.play?.().catch(() => {});
  stage?.setAttribute('data-challenge', 'flashing');
  const shots = [];
  try {
    say('hold_still');
    await sleep(400);
    for (const [i, step] of steps.entries()) {
      const ms = Math.max(step.ms ?? 450, FLASH_SETTLE_MS + 120);
      const stepStart = performance.now();
      // The onset frame: grabbed in the same task that changes the colour, so it was exposed
      // before the new colour could be painted. The server checks that it still shows the
      // previous colour (a camera lags; a tinted picture does not).
      const onset = camera(i);
      overlay.style.background = step.colour;
      shots.push(await onset);
      await nextFrame();
      await sleep(Math.max(0, FLASH_SETTLE_MS - (performance.now() - stepStart)));
      shots.push(await camera(i));
      const left = ms - (performance.now() - stepStart);
      if (left > 0) await sleep(left);
    }
  } finally {
    overlay.remove();
    stage?.removeAttribute('data-challenge');
  }
  return shots;
}

// ------------------------------------------------------------------ ACTIVE_3D

const CUES = {
  straight: { key: 'look_straight', arrow: '●' },
  left: { key: 'turn_left', arrow: '←' },
  right: { key: 'turn_right', arrow: '→' },
  up: { key: 'look_up', arrow: '↑' },
  down: { key: 'look_down', arrow: '↓' },
};

/**
 * Films each revealed step from its reveal until its hold is over, one frame every
 * `frame_interval_ms`, uploads it, and shows the next reveal. Returns the frames kept for the
 * final capture. A step the server refuses (expired, replaced) ends the run: the capture then
 * tells the user how it was decided.
 */
async function runSteps(challenge, { camera, stage, say, api }) {
  const host = stage ?? document.body;
  const arrow = element(
    'div',
    {
      position: stage ? 'absolute' : 'fixed', left: '50%', top: '12%', transform: 'translateX(-50%)',
      fontSize: '18vmin', lineHeight: '1', color: '#fff', textShadow: '0 0 12px rgba(0,0,0,0.8)',
      pointerEvents: 'none', zIndex: '10',
    },
    host,
  );
  arrow.setAttribute('aria-hidden', 'true');
  const kept = [];
  let reveal = challenge.step;
  try {
    while (reveal) {
      const cue = CUES[reveal.move] ?? CUES.straight;
      // The arrow points the way the user turns, as they see themselves in the mirrored preview.
      arrow.textContent = cue.arrow;
      say(cue.key);
      const interval = Math.max(50, reveal.frame_interval_ms ?? 200);
      const filmFor = Math.min(TURN_MS + (reveal.hold_ms ?? 0), interval * (MAX_FRAMES - 1));
      const start = performance.now();
      const shots = [];
      // On a schedule from the reveal, not after each grab: the server counts the frames
      // against the time the step took, so the cadence must not drift slower.
      for (let k = 0; ; k++) {
        await sleep(Math.max(0, start + k * interval - performance.now()));
        shots.push(await camera(reveal.step));
        if (k * interval >= filmFor) break;
      }
      if (reveal.step === 0) kept.push(...shots.slice(-FINAL_FRAMES));
      const form = new FormData();
      shots.forEach((shot, i) => form.append('frames', shot.blob, `step-${reveal.step}-${i}.jpg`));
      const res = await fetch(`${api}/challenge/${encodeURIComponent(challenge.id)}/steps/${reveal.step}`, { method: 'POST', body: form });
      const body = await res.json().catch(() => ({}));
      if (!res.ok || body.done) break;
      reveal = body.step;
    }
  } finally {
    arrow.remove();
  }
  return kept.map((shot) => ({ ...shot, step: 0 }));
}
