// The hosted page's language: the URL's first path segment when it is a supported code
// (`/es/session/…`, as Didit's session URLs carry it), else the browser's, else English.
// English is built in; another language is one small JSON file (web/hosted/lang/), fetched
// only when needed, and any key it lacks falls back to English.

export const LANGUAGES = 'en ar bg bn bs ca cnr cs da de el es et eu fa fi fr gl he hi hr hu hy id it ja ka kk ko ky lt lv mk mn ms nl no pl pt-BR pt ro ru sk sl so sq sr sv th tr uk uz vi zh-CN zh-TW zh'.split(' ');

const RTL = new Set(['ar', 'fa', 'he']);

export const ENGLISH = {
  title: "Verify it's you",
  intro: 'Look at the camera. We take a photo when your face is in the oval.',
  loading: 'Getting ready…',
  starting: 'Starting the camera…',
  no_face: "We can't see your face. Look at the camera.",
  many_faces: 'Only one person in the picture, please.',
  move_closer: 'Move closer.',
  move_back: 'Move back a little.',
  centre: 'Move your face into the oval.',
  more_light: 'More light, please. Face a window or a lamp.',
  less_light: 'Too bright. Move away from direct light.',
  blurry: 'Hold the phone steady, the picture is blurry.',
  look_straight: 'Look straight at the camera.',
  hold_still: 'Hold still…',
  checking: 'Checking…',
  approved: 'Verified. You can continue.',
  in_review: 'Thanks, we are checking your photo.',
  declined: 'We could not verify you.',
  retry_prompt: 'We could not verify that photo. Face the camera in good light and try again.',
  retry: 'Try again',
  fallback: 'Continue without the camera',
  camera_denied: 'Camera access was denied. Allow the camera in your browser settings, or continue without it.',
  no_camera: 'No camera is available on this device.',
  unsupported: 'This browser cannot use the camera.',
  invalid_link: 'This verification link is not valid any more.',
  error: 'Something went wrong. Please try again.',
  phone_title: 'Continue on your phone',
  phone_hint: "Scan this code with your phone's camera to take the selfie there.",
  flash_warning: 'The screen will flash a few colours. If flashing lights affect you, continue without the camera.',
  flash_intro: 'Keep your face in the oval while the screen changes colour.',
  turn_left: 'Slowly turn your head to the left.',
  turn_right: 'Slowly turn your head to the right.',
  look_up: 'Slowly look up.',
  look_down: 'Slowly look down.',
  redirecting: 'Taking you back…',
  camera_label: 'Camera preview',
  attempts_left: '{n} attempts left.',
  cancel: 'Cancel',
};

function supported(code) {
  if (!code) return null;
  const exact = LANGUAGES.find((l) => l === code) ?? LANGUAGES.find((l) => l.toLowerCase() === code.toLowerCase());
  if (exact) return exact;
  const [base, region = ''] = code.toLowerCase().split('-');
  // Traditional Chinese by script or region; other regional variants fall back to the base.
  if (base === 'zh' && ['hant', 'tw', 'hk', 'mo'].includes(region)) return 'zh-TW';
  if (base === 'zh' && ['hans', 'cn', 'sg'].includes(region)) return 'zh-CN';
  if (base === 'nb' || base === 'nn') return 'no';
  return LANGUAGES.find((l) => l === base) ?? null;
}

/** The page's language for `pathname` and the browser's preferred `languages`. */
export function pickLanguage(pathname, languages = []) {
  const first = pathname.split('/').filter(Boolean)[0];
  // Only an exact code counts in the path: `/session/…` and `/v3/…` are not languages.
  if (LANGUAGES.includes(first)) return first;
  for (const l of languages) {
    const found = supported(l);
    if (found) return found;
  }
  return 'en';
}

export function isRtl(code) {
  return RTL.has(code.split('-')[0]);
}

/** `(key, {n}) => text` in `code`, English for anything missing. */
export function translator(strings) {
  return (key, vars = {}) => (strings[key] ?? ENGLISH[key] ?? key).replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** Fetches the strings of `code` (relative to this module); English when that fails. */
export async function loadStrings(code) {
  if (code === 'en') return ENGLISH;
  try {
    const res = await fetch(new URL(`./lang/${code}.json`, import.meta.url));
    return res.ok ? { ...ENGLISH, ...(await res.json()) } : ENGLISH;
  } catch {
    return ENGLISH;
  }
}
