// The hosted page's translations: every language complete, placeholders intact, and the
// language chosen as the contract says (path segment, then the browser, then English).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { ENGLISH, LANGUAGES, isRtl, pickLanguage, translator } from '../../web/hosted/i18n.js';

const langDir = join(import.meta.dirname, '..', '..', 'web', 'hosted', 'lang');
const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

test('every supported language has every key, with the English placeholders', () => {
  for (const code of LANGUAGES.filter((l) => l !== 'en')) {
    const strings = JSON.parse(readFileSync(join(langDir, `${code}.json`), 'utf8'));
    assert.deepEqual(Object.keys(strings).sort(), Object.keys(ENGLISH).sort(), code);
    for (const [key, text] of Object.entries(strings)) {
      assert.ok(text.trim().length > 0, `${code}.${key} is empty`);
      assert.deepEqual(placeholders(text), placeholders(ENGLISH[key]), `${code}.${key}`);
    }
  }
});

test('the language comes from the path, then the browser, then English', () => {
  assert.equal(pickLanguage('/es/session/x', ['de']), 'es');
  assert.equal(pickLanguage('/pt-BR/session/x', []), 'pt-BR');
  assert.equal(pickLanguage('/session/x', ['de-AT', 'en']), 'de');
  assert.equal(pickLanguage('/session/x', ['zh-Hant']), 'zh-TW');
  assert.equal(pickLanguage('/session/x', ['zh-TW']), 'zh-TW');
  assert.equal(pickLanguage('/session/x', ['pt-PT']), 'pt');
  assert.equal(pickLanguage('/session/x', ['nb-NO']), 'no');
  assert.equal(pickLanguage('/session/x', ['xx', 'yy']), 'en');
  assert.equal(pickLanguage('/xx/session/x', []), 'en');
});

test('right-to-left scripts, placeholders and the English fallback', () => {
  assert.ok(isRtl('ar') && isRtl('he') && isRtl('fa'));
  assert.ok(!isRtl('en') && !isRtl('zh-TW'));
  const t = translator({ retry: 'Reintentar' });
  assert.equal(t('retry'), 'Reintentar');
  assert.equal(t('attempts_left', { n: 2 }), '2 attempts left.');
});

test('every cue the capture guide can give has a text', () => {
  const guide = readFileSync(join(import.meta.dirname, '..', '..', 'crates', 'pipeline', 'src', 'guide.rs'), 'utf8');
  const body = guide.slice(guide.indexOf('pub enum Cue {'), guide.indexOf('}', guide.indexOf('pub enum Cue {')));
  const cues = [...body.matchAll(/^\s+([A-Z]\w*),/gm)].map((m) => m[1].replace(/[A-Z]/g, (c, i) => (i ? '_' : '') + c.toLowerCase()));
  assert.ok(cues.length >= 10, cues.join());
  // `ready` is shown as "hold still" while the page takes the picture.
  for (const cue of cues.filter((c) => c !== 'ready')) assert.ok(cue in ENGLISH, cue);
});
