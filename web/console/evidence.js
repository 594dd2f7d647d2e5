// The evidence of one session as a reviewer reads it: the two scores drawn against the
// thresholds they were judged by, the warnings in plain words, and the context (method,
// attempts, network, images). Shared by the review queue and the session page.
import { el, fmtScore, statusBadge, timeEl } from './dom.js';

const h = (level, text, attrs = {}) => el(`h${Math.min(level, 6)}`, attrs, text);

/**
 * A 0..100 bar with its thresholds. The marks sit on the bar, the review label above it and the
 * decline label below, so the two never collide when the thresholds are close.
 */
function meter({ name, score, decline, review }) {
  const parts = [`${name} ${fmtScore(score)} of 100`];
  const thresholds = [];
  if (review !== null && review !== undefined) thresholds.push(`review threshold ${fmtScore(review)}`);
  if (decline !== null && decline !== undefined) thresholds.push(`decline threshold ${fmtScore(decline)}`);
  const label = thresholds.length ? `${parts[0]}; ${thresholds.join(', ')}` : parts[0];

  const track = el('div', { class: 'meter-track' });
  const zone = (cls, from, to) => {
    const z = el('span', { class: `zone ${cls}` });
    z.style.setProperty('--from', String(clamp(from)));
    z.style.setProperty('--to', String(clamp(to)));
    return z;
  };
  const hasDecline = decline !== null && decline !== undefined;
  const hasReview = review !== null && review !== undefined;
  if (hasDecline) track.append(zone('zone-decline', 0, decline));
  if (hasReview) track.append(zone('zone-review', hasDecline ? decline : 0, review));
  track.append(zone('zone-pass', hasReview ? review : hasDecline ? decline : 0, 100));
  const fill = el('span', { class: 'meter-fill' });
  fill.style.setProperty('--value', String(clamp(score)));
  track.append(fill);

  const marks = [];
  const mark = (cls, at, text) => {
    const m = el('span', { class: `meter-mark ${cls}` });
    m.style.setProperty('--at', String(clamp(at)));
    track.append(m);
    const tag = el('span', { class: `meter-label ${cls} ${edge(at)}` }, text);
    tag.style.setProperty('--at', String(clamp(at)));
    marks.push(tag);
  };
  if (hasDecline) mark('mark-decline', decline, `decline ${fmtScore(decline)}`);
  if (hasReview) mark('mark-review', review, `review ${fmtScore(review)}`);

  const above = el('div', { class: 'meter-scale above' }, marks.filter((m) => m.classList.contains('mark-review')));
  const below = el('div', { class: 'meter-scale below' }, marks.filter((m) => m.classList.contains('mark-decline')));
  return el('div', { class: 'meter', role: 'img', 'aria-label': label }, above, track, below);
}

const clamp = (n) => Math.min(100, Math.max(0, Number(n) || 0));
/** Labels near either end are anchored to that end, so they never stick out of the card. */
const edge = (at) => (at < 12 ? 'at-start' : at > 88 ? 'at-end' : '');

/** The threshold a score was judged against: a declined match against the decline threshold,
 * anything else against the threshold it needed to pass. */
function judgedAgainst(check, { hasReview }) {
  if (hasReview && check.status !== 'Declined' && check.review_threshold !== null && check.review_threshold !== undefined) {
    return `review threshold ${fmtScore(check.review_threshold)}`;
  }
  if (check.decline_threshold !== null && check.decline_threshold !== undefined) return `decline threshold ${fmtScore(check.decline_threshold)}`;
  return null;
}

function scoreBlock(level, title, check, { hasReview, id }) {
  const section = el('section', { class: 'score', 'aria-labelledby': id }, h(level, title, { id }));
  if (!check || check.score === null || check.score === undefined) {
    section.append(el('p', { class: 'muted' }, check?.status ? `Not scored (${check.status}).` : 'Not run for this session.'));
    return section;
  }
  const against = judgedAgainst(check, { hasReview });
  section.append(
    el(
      'p',
      { class: 'score-line' },
      el('span', { class: 'score-value' }, fmtScore(check.score)),
      against ? el('span', { class: 'score-vs' }, `vs ${against}`) : null,
      check.status ? statusBadge(check.status) : null,
    ),
    meter({
      name: title,
      score: check.score,
      decline: check.decline_threshold,
      review: hasReview ? check.review_threshold : null,
    }),
  );
  if (check.calibration) section.append(el('p', { class: 'calibration' }, check.calibration));
  return section;
}

function detailList(rows) {
  return el('dl', { class: 'facts' }, rows.flatMap(([term, value]) => [el('dt', {}, term), el('dd', {}, value)]));
}

const notRecorded = (v) => (v === null || v === undefined || v === '' ? el('span', { class: 'muted' }, 'not recorded') : String(v));

function challengeText(challenge) {
  if (!challenge) return el('span', { class: 'muted' }, 'none (passive capture)');
  return `${challenge.method}: ${challenge.result}`;
}

/** Which step-up rule judged the visit and what it asked for (null: the workflow has no IP
 * analysis). */
function stepUpText(step) {
  if (!step) return el('span', { class: 'muted' }, 'off for this workflow');
  const rule = String(step.rule).replaceAll('_', ' ');
  if (step.action === 'skip') return `${rule}: approved without a selfie (no liveness or face match ran)`;
  if (step.action === 'decline') return `${rule}: declined`;
  return `${rule}: ${step.liveness_method} selfie required`;
}

/** Only data: image URLs are shown; anything else would be a request to somewhere. */
function safeImage(src, alt) {
  if (typeof src !== 'string' || !/^data:image\/(png|jpeg|webp);base64,/i.test(src)) {
    return el('p', { class: 'muted' }, 'No image.');
  }
  return el('img', { src, alt, class: 'evidence-img', decoding: 'async' });
}

function imagesBlock(level, images, id) {
  const section = el('section', { class: 'images', 'aria-labelledby': id }, h(level, 'Images', { id }));
  if (!images) {
    section.append(el('p', { class: 'muted' }, 'Images are not retained for this application.'));
    return section;
  }
  section.append(
    el(
      'div',
      { class: 'image-pair' },
      el('figure', {}, safeImage(images.captured, 'Selfie captured in this session'), el('figcaption', {}, 'Captured now')),
      el('figure', {}, safeImage(images.enrolled, 'Enrolled reference face'), el('figcaption', {}, 'Enrolled')),
    ),
  );
  return section;
}

/**
 * `evidence` rendered as a column of sections; `level` is the heading level of the sections
 * (the caller's title sits one above it).
 */
export function renderEvidence(evidence, { level = 3, idPrefix = 'ev' } = {}) {
  const id = (s) => `${idPrefix}-${s}`;
  const wf = evidence.workflow;
  const warnings = evidence.warnings ?? [];
  const livenessMethod = evidence.liveness?.method ?? null;
  return el(
    'div',
    { class: 'evidence' },
    el(
      'div',
      { class: 'scores' },
      scoreBlock(level, 'Face match', evidence.face_match, { hasReview: true, id: id('face') }),
      scoreBlock(level, 'Liveness', evidence.liveness, { hasReview: false, id: id('liveness') }),
    ),
    el(
      'section',
      { class: 'warnings', 'aria-labelledby': id('warnings') },
      h(level, 'Warnings', { id: id('warnings') }),
      warnings.length
        ? el('ul', { class: 'warning-list' }, warnings.map((w) => el('li', { class: `warning ${w.log_type === 'error' ? 'is-error' : ''}` }, w.plain || w.risk, w.plain && w.risk ? el('span', { class: 'risk' }, w.risk) : null)))
        : el('p', { class: 'muted' }, 'No warnings.'),
    ),
    el(
      'section',
      { class: 'context', 'aria-labelledby': id('context') },
      h(level, 'Details', { id: id('context') }),
      detailList([
        ['Liveness method', livenessMethod ?? el('span', { class: 'muted' }, 'not run')],
        ['Challenge', challengeText(evidence.challenge)],
        ['Attempts', `${evidence.attempts ?? 0} of ${evidence.max_attempts ?? '?'}`],
        ['IP address', notRecorded(evidence.ip_address)],
        ['Device', notRecorded(evidence.device)],
        ['Step-up', stepUpText(evidence.step_up)],
        ['Workflow', wf ? `${wf.label} (${wf.type}, version ${wf.version})` : el('span', { class: 'muted' }, 'unknown')],
        ['Created', evidence.created_at ? timeEl(evidence.created_at) : notRecorded(null)],
        ['Session id', el('span', { class: 'mono' }, evidence.session_id)],
      ]),
    ),
    imagesBlock(level, evidence.images, id('images')),
  );
}

/** "Session #12 · user-1": how a session is named in titles and messages. */
export function sessionName(s) {
  const number = s.session_number !== null && s.session_number !== undefined ? `#${s.session_number}` : s.session_id.slice(0, 8);
  return s.vendor_data ? `Session ${number} · ${s.vendor_data}` : `Session ${number}`;
}
