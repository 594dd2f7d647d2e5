// A browser-like client of the operator API for the edge tests: keeps the console cookie and
// sends the CSRF token on writes, as the console page does.

/** A client of `origin`'s `/console/api`. `call` answers `{status, body, headers, text}`. */
export function consoleClient(origin) {
  const c = { cookie: null, csrf: null, setCookie: null };
  c.call = async (method, path, body, { csrf = true, headers = {} } = {}) => {
    const h = { ...headers };
    if (c.cookie) h.cookie = c.cookie;
    if (body !== undefined) h['content-type'] = 'application/json';
    if (method !== 'GET' && csrf && c.csrf) h['x-csrf-token'] = c.csrf;
    const res = await fetch(`${origin}/console/api${path}`, { method, headers: h, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    const set = res.headers.get('set-cookie');
    if (set) {
      c.setCookie = set;
      c.cookie = set.split(';')[0];
    }
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      // PDF, empty
    }
    if (json?.csrf_token) c.csrf = json.csrf_token;
    return { status: res.status, body: json, headers: res.headers, text };
  };
  return c;
}
