// Forged answers to a FLASHING challenge (issue #8): an attacker with a still photo of the
// enrolled person tints it with each flashed colour in an image editor — here Chromium's canvas
// — either the whole picture or only the face, one camera frame late as a real response would
// be, adds a little noise so no two frames are equal, and uploads the frames as the hosted page
// would. None may be Approved, and what catches them must be the physics of light on a face.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { LIVE_CLIP, clipFrames, createSession, dataDir, spawnApp } from '../edge/harness.mjs';
import { launchChromium } from './chromium.mjs';

let app;
let browser;
before(async () => {
  app = await spawnApp();
  browser = await launchChromium(LIVE_CLIP.replace('video/', ''), { camera: false });
});
after(async () => {
  await browser?.close();
  await app?.stop();
});

const PORTRAIT = readFileSync(join(dataDir, 'video/enroll_portrait_apfol_s1_t9.5s.jpg')).toString('base64');
// The attacker's photo of the victim: a frame of the webcam clip, where the person holds still
// facing the camera (640x480).
const STILL = clipFrames(LIVE_CLIP)[130].toString('base64');

/**
 * Two tinted frames per colour, drawn in the browser: `region` 'image' tints everything,
 * 'face' an ellipse around the face only (where a screen's light would fall). Returns JPEGs.
 */
async function tintedFrames(colours, region) {
  const page = await browser.context.newPage();
  try {
    const frames = await page.evaluate(async ({ still, colours, region }) => {
      const img = new Image();
      img.src = `data:image/jpeg;base64,${still}`;
      await img.decode();
      const canvas = new OffscreenCanvas(img.width, img.height);
      const ctx = canvas.getContext('2d');
      let seed = 7;
      const noise = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 4;
      const out = [];
      for (const [step, current] of colours.entries()) {
        for (let k = 0; k < 2; k++) {
          // A careful forger mimics the camera's lag: a step's first frame still shows the
          // colour before it, its second the step's own.
          const colour = k === 0 ? colours[step - 1] ?? '#808080' : current;
          ctx.globalCompositeOperation = 'source-over';
          ctx.globalAlpha = 1;
          ctx.drawImage(img, 0, 0);
          ctx.save();
          if (region === 'face') {
            ctx.beginPath();
            ctx.ellipse(img.width / 2, img.height * 0.45, img.width * 0.17, img.height * 0.3, 0, 0, 2 * Math.PI);
            ctx.clip();
          }
          // What a screen's light adds: the colour blended over the skin.
          ctx.globalCompositeOperation = 'overlay';
          ctx.globalAlpha = 0.5;
          ctx.fillStyle = colour;
          ctx.fillRect(0, 0, img.width, img.height);
          ctx.restore();
          const data = ctx.getImageData(0, 0, img.width, img.height);
          for (let i = 0; i < data.data.length; i += 4) {
            const n = noise();
            data.data[i] += n;
            data.data[i + 1] += n;
            data.data[i + 2] += n;
          }
          ctx.putImageData(data, 0, 0);
          const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
          const bytes = new Uint8Array(await blob.arrayBuffer());
          let binary = '';
          for (const b of bytes) binary += String.fromCharCode(b);
          out.push(btoa(binary));
        }
      }
      return out;
    }, { still: STILL, colours, region });
    return frames.map((b64) => Buffer.from(b64, 'base64'));
  } finally {
    await page.close();
  }
}

for (const region of ['image', 'face']) {
  test(`a still photo tinted with each flashed colour (${region === 'image' ? 'the whole image' : 'the face only'}) is not Approved`, { timeout: 120_000 }, async () => {
    const s = await createSession(app, { workflow_id: app.workflows.biometric_authentication_flashing, vendor_data: `forger-${region}`, portrait_image: PORTRAIT });
    const res = await fetch(`${app.origin}/hosted/v1/${s.session_token}/challenge`, { method: 'POST' });
    assert.equal(res.status, 200);
    const challenge = await res.json();
    const colours = challenge.steps.map((step) => step.colour);
    const frames = await tintedFrames(colours, region);
    const form = new FormData();
    form.append('challenge_id', challenge.id);
    frames.forEach((jpeg, i) => form.append('frames', new Blob([jpeg], { type: 'image/jpeg' }), `f${i}.jpg`));
    form.append('steps', JSON.stringify(frames.map((_, i) => Math.floor(i / 2))));
    const capture = await fetch(`${app.origin}/hosted/v1/${s.session_token}/capture`, { method: 'POST', body: form });
    const body = await capture.json();
    assert.equal(capture.status, 200, JSON.stringify(body));
    assert.notEqual(body.status, 'Approved');
    const decision = await (await fetch(`${app.baseUrl}/session/${s.session_id}/decision/`, { headers: { 'x-api-key': app.apiKey } })).json();
    const item = decision.liveness_checks[0];
    assert.equal(item.method, 'FLASHING');
    assert.equal(item.status, 'Declined', JSON.stringify(item.warnings));
    // The forgery got past what a recording fails (the colours are followed, with the camera's
    // lag): what caught it is the physics a flat picture lacks.
    const failed = item.warnings.find((w) => w.additional_data?.method === 'FLASHING');
    assert.ok(failed, JSON.stringify(item.warnings));
    const { figures, reasons } = failed.additional_data;
    assert.ok(figures.correlation >= 0.7 && figures.lag >= 0.3, JSON.stringify(figures));
    const physics = region === 'image' ? /background changed colour|grainy noise/ : /grainy noise|light fell evenly/;
    assert.match(reasons.join(' | '), physics);
    // The face itself matched: only the challenge caught it.
    assert.equal(decision.face_matches[0].status, 'Approved');
  });
}
