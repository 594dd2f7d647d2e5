// The hosted page's checking worker: capture-wasm's Checker (YuNet + MiniFASNetV2 and the
// capture guide) on the frames the page sends, so that inference never stalls the page.
let checker = null;

async function init({ module, glue, models }) {
  const capture = await import(glue);
  // The page compiled the module already; instantiating it here costs no second download.
  await capture.default({ module_or_path: module });
  // The page fetched the models while the module compiled and transferred their bytes here.
  const [yunet, minifasnet] = models.map((buffer) => new Uint8Array(buffer));
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
