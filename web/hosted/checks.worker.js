// The hosted page's checking worker: capture-wasm's Checker (YuNet + MiniFASNetV2 and the
// capture guide) on the frames the page sends, so that inference never stalls the page.
let checker = null;

async function init({ module, glue, models }) {
  const capture = await import(glue);
  // The page compiled the module already; instantiating it here costs no second download.
  await capture.default({ module_or_path: module });
  const [yunet, minifasnet] = await Promise.all(
    models.map(async (url) => {
      const res = await fetch(url);
      if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    }),
  );
  const started = performance.now();
  checker = new capture.Checker(yunet, minifasnet);
  postMessage({ type: 'ready', build_ms: performance.now() - started });
}

function check({ pixels, width, height }) {
  const started = performance.now();
  const guidance = JSON.parse(checker.check(pixels, width, height));
  postMessage({ type: 'result', ms: performance.now() - started, ...guidance });
}

onmessage = async ({ data }) => {
  try {
    if (data.type === 'init') await init(data);
    else if (data.type === 'frame') check(data);
  } catch (e) {
    postMessage({ type: 'error', message: String(e?.message ?? e) });
  }
};
