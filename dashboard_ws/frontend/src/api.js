// The gateway's HTTP routes (same origin, the session cookie). Every answer is
// {status, body} (body: parsed JSON, or null) or {status, detail} for errors; a network failure
// throws. A 401 means the session is gone: `onUnauthorized` (set by the app) shows the sign-in.

let onUnauthorized = () => {};

export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

export async function errorDetail(response) {
  try {
    const text = await response.text();
    try {
      const body = JSON.parse(text);
      if (body && typeof body.detail === "string") return body.detail;
      if (body && typeof body.error === "string") return body.error;
    } catch {
      // not JSON: the text itself
    }
    return text.trim().slice(0, 300) || response.statusText;
  } catch {
    return response.statusText;
  }
}

/** GET a JSON route. */
export async function getJSON(path, params) {
  const url = params ? path + "?" + new URLSearchParams(clean(params)) : path;
  const response = await fetch(url, {
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json" },
  });
  if (response.status === 200) return { status: 200, body: await response.json() };
  const detail = await errorDetail(response);
  if (response.status === 401) onUnauthorized(detail);
  return { status: response.status, detail: detail || String(response.status) };
}

/** A query string without the unset parameters. */
export function clean(params) {
  const out = {};
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== "") out[k] = String(v);
  }
  return out;
}

export function query(path, params) {
  const qs = new URLSearchParams(clean(params)).toString();
  return qs ? path + "?" + qs : path;
}

export async function whoAmI() {
  const response = await fetch("/auth/me", {
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json" },
  });
  if (response.status === 200) return { status: 200, identity: await response.json() };
  return { status: response.status, detail: await errorDetail(response) };
}

export async function login(username, password) {
  return fetch("/auth/login", {
    method: "POST",
    credentials: "same-origin",
    cache: "no-store",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
}

export async function logout() {
  return fetch("/auth/logout", { method: "POST", credentials: "same-origin", cache: "no-store" });
}
