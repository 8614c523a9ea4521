"use strict";
// riskmon dashboard: sign-in, live district scores, open alerts and their acknowledgement.
//
// Served as /static/app.js under the gateway's Content-Security-Policy (script-src 'self',
// style-src 'self'): no inline script or handlers, no eval, no style attributes; the look is in
// /static/app.css and this script only sets classes, text and the hidden attribute.
//
// Access (same origin as the page):
//   GET  /auth/me      200 {user, role, via, expires_at, rights: [...]} | 401 {error, detail}
//   POST /auth/login   JSON {username, password} -> 200 and a session cookie the page never
//                      reads (nor the token in the answer) | 401 | 429 (+ Retry-After) | 400/415
//   POST /auth/logout  204; the gateway closes this page's websocket with 4001
// The websocket (/ws, named by the page's riskmon-websocket meta tag) is authenticated by the
// cookie. Close codes: 4001 session ended or expired (the reason says which): back to sign-in;
// 4008 too many messages, 4013 the gateway's queue for this page overflowed, 1001 the gateway
// is going away: reconnect with backoff. A refused handshake (401/403) reaches the page only as
// a close (1006) before open; before every reconnect the page asks /auth/me, and a 401 there
// brings the sign-in form back instead of reconnecting for ever.
//
// Wire format (streams/contract): the gateway sends
//   {"type":"snapshot","districts":[ScoreUpdate...],"alerts":[Alert...]} first, then
//   {"type":"score","update":ScoreUpdate} per change of a district and
//   {"type":"alert","alert":Alert} per change of an alert (resolved ones: then forgotten).
// The page sends {"type":"ack","alert_id","district","note","request_id"} (the gateway takes the
// acknowledging user from the session) and is answered {"type":"ack_result",...} (queued, then
// applied / rejected / timed_out) or {"type":"request_error",...}.

const DOMAIN_ORDER = ["fire", "flood_weather", "traffic", "crime", "living_safety", "air_quality"];
const SEVERITY_RANK = { Extreme: 0, Severe: 1, Moderate: 2, Minor: 3 };
const BACKOFF_FIRST_MS = 500, BACKOFF_MAX_MS = 15000;
const CLOSE_GOING_AWAY = 1001, CLOSE_SESSION_ENDED = 4001;
const CLOSE_TOO_MANY_MESSAGES = 4008, CLOSE_QUEUE_OVERFLOW = 4013;
const RIGHT_ALERTS = "live.alerts", RIGHT_ACKNOWLEDGE = "alert.acknowledge";

const districts = new Map();   // code -> latest ScoreUpdate
const rows = new Map();        // code -> <tr>
const alerts = new Map();      // alert id -> latest open Alert
const alertItems = new Map();  // alert id -> {li, info, form, button, status}
const ackRequests = new Map(); // request_id -> alert id, until its final answer
const ackStatus = new Map();   // alert id -> {text, cls, pending}
let me = null;                 // the /auth/me answer while signed in, else null
let generation = 0;            // bumped at every sign-in and sign-out: stale callbacks stop
let socket = null;
let retryTimer = null;
let backoff = BACKOFF_FIRST_MS;
let counter = 0;

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmt(x, digits = 2) { return Number(x).toFixed(digits); }

function clock(iso) { return iso ? new Date(iso).toLocaleTimeString() : "—"; }

function signed(x) {
  return el("span", x > 0 ? "up" : x < 0 ? "down" : "", (x > 0 ? "+" : "") + fmt(x));
}

function may(right) {
  return me !== null && Array.isArray(me.rights) && me.rights.includes(right);
}

function capitalized(text) { return text ? text.charAt(0).toUpperCase() + text.slice(1) : text; }

// --- scores ----------------------------------------------------------------------------------

function domainNames(update) {
  const known = DOMAIN_ORDER.filter((d) => d in update.domains);
  const others = Object.keys(update.domains).filter((d) => !DOMAIN_ORDER.includes(d)).sort();
  return known.concat(others);
}

function render(update, flash) {
  let tr = rows.get(update.district);
  if (!tr) {
    tr = el("tr");
    tr.dataset.district = update.district;
    rows.set(update.district, tr);
  }
  tr.replaceChildren();
  const name = el("td");
  name.append(el("div", "", update.name), el("div", "muted", update.district));
  tr.append(name);
  tr.append(el("td", "num score", fmt(update.composite.value)));
  const grade = el("td");
  grade.append(el("span", "grade g" + update.composite.grade, String(update.composite.grade)));
  tr.append(grade);
  const domains = el("td", "domains");
  for (const d of domainNames(update)) {
    const s = update.domains[d];
    const span = el("span");
    span.append(el("span", "grade g" + s.grade, String(s.grade)), " " + d + " " + fmt(s.risk));
    domains.append(span);
  }
  tr.append(domains);
  tr.append(el("td", "num safety", fmt(update.safety)));
  const change = el("td");
  change.append(signed(update.delta.composite), el("div", "muted",
    clock(update.as_of) + " · " + update.reason + " · #" + update.seq));
  tr.append(change);
  const drivers = el("td", "drivers");
  // What explains the hazard now (contributors of changed domains), else this batch's drivers;
  // safety facts move the safety index, not a hazard, so zero contributions are left out.
  const explaining = Object.values(update.contributors || {}).flat();
  const pool = explaining.length ? explaining : update.drivers;
  const top = pool.filter((d) => d.contribution > 0)
    .sort((a, b) => b.contribution - a.contribution).slice(0, 3);
  if (top.length === 0) drivers.textContent = "—";
  for (const dr of top) {
    drivers.append(el("div", "", dr.type + " (" + dr.domain + ") " + fmt(dr.contribution)
      + " · " + dr.event_id));
  }
  tr.append(drivers);
  if (flash) {
    tr.classList.remove("flash");
    void tr.offsetWidth;  // restart the animation
    tr.classList.add("flash");
  }
}

function summarize() {
  const all = [...districts.values()];
  const worst = all.sort((a, b) => b.composite.value - a.composite.value)[0];
  $("summary").textContent = all.length + " districts"
    + (worst ? " · highest: " + worst.name + " " + fmt(worst.composite.value) : "");
}

function redrawOrder() {
  const codes = [...districts.keys()].sort();
  $("rows").replaceChildren(...codes.map((c) => rows.get(c)));
  summarize();
}

function apply(update, flash) {
  const held = districts.get(update.district);
  if (held && held.seq >= update.seq) return;  // never step back
  districts.set(update.district, update);
  render(update, flash);
  if (held) summarize();
  else redrawOrder();  // a district seen for the first time gets its row
}

// --- alerts ----------------------------------------------------------------------------------

function alertItem(alert) {
  let item = alertItems.get(alert.id);
  if (!item) {
    const li = el("li");
    li.dataset.alertId = alert.id;
    const info = el("div", "alert-info");
    const status = el("div", "ack-status");
    status.setAttribute("role", "status");
    li.append(info, status);
    item = { li, info, form: null, button: null, status };
    alertItems.set(alert.id, item);
  }
  return item;
}

function ackForm(item, alertId) {
  const form = el("form", "ack");
  const input = el("input", "ack-note");
  input.type = "text";
  input.id = "ack-note-" + (++counter);
  input.name = "note";
  input.maxLength = 2000;
  input.autocomplete = "off";
  input.placeholder = "note (optional), e.g. 119 dispatched";
  const label = el("label", "visually-hidden", "Note with the acknowledgement");
  label.htmlFor = input.id;
  const button = el("button", "ack-button", "Acknowledge");
  button.type = "submit";
  form.append(label, input, button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sendAck(alertId, input);
  });
  item.form = form;
  item.button = button;
  item.li.insertBefore(form, item.status);
}

function renderAlert(alert) {
  const item = alertItem(alert);
  item.li.className = "sev-" + alert.severity + " state-" + alert.state;
  const head = el("div", "alert-head",
    alert.name + " · " + alert.domain + " · " + alert.severity);
  head.append(el("span", "alert-state", alert.state));
  const what = alert.rule === "stale" ? "sensor feeds stale" : (alert.triggers || []).join(", ");
  const detail = el("div", "muted", what + " · value " + fmt(alert.value) + ", peak "
    + fmt(alert.peak) + (alert.baseline === null || alert.baseline === undefined ? ""
      : ", baseline " + fmt(alert.baseline))
    + " · fired " + clock(alert.fired_at || alert.opened_at) + " · " + alert.district);
  item.info.replaceChildren(head, detail);
  if (alert.acknowledged_by) {
    item.info.append(el("div", "acknowledged", "acknowledged by " + alert.acknowledged_by
      + " at " + clock(alert.acknowledged_at) + (alert.note ? ": " + alert.note : "")));
  }
  const drivers = (alert.drivers || []).slice(0, 3);
  if (drivers.length) {
    item.info.append(el("div", "drivers",
      drivers.map((d) => d.type + " " + d.event_id).join(" · ")));
  }
  const canAck = alert.state === "firing" && may(RIGHT_ACKNOWLEDGE);
  if (canAck && !item.form) ackForm(item, alert.id);
  if (!canAck && item.form) {
    item.form.remove();
    item.form = item.button = null;
  }
  showAckStatus(alert.id);
}

function forgetAlert(id) {
  const item = alertItems.get(id);
  if (item) item.li.remove();
  alertItems.delete(id);
  alerts.delete(id);
  ackStatus.delete(id);
}

function alertOrder(a, b) {
  const firing = (a.state === "firing" ? 0 : 1) - (b.state === "firing" ? 0 : 1);
  if (firing) return firing;
  const severity = (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9);
  if (severity) return severity;
  return String(b.fired_at || b.opened_at).localeCompare(String(a.fired_at || a.opened_at));
}

function redrawAlerts() {
  const list = $("alerts");
  const wanted = [...alerts.values()].sort(alertOrder).map((a) => alertItems.get(a.id).li);
  // Move only what is out of place: a note being typed keeps its focus.
  wanted.forEach((li, i) => {
    if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
  });
  while (list.children.length > wanted.length) list.lastElementChild.remove();
  $("alert-count").textContent = alerts.size ? "(" + alerts.size + ")" : "";
  $("alerts-empty").hidden = alerts.size > 0;
}

function applyAlert(alert) {
  const held = alerts.get(alert.id);
  if (held && held.seq >= alert.seq) return;
  if (alert.state === "resolved") forgetAlert(alert.id);
  else {
    alerts.set(alert.id, alert);
    renderAlert(alert);
  }
  redrawAlerts();
}

function replaceAlerts(open) {
  const ids = new Set(open.map((a) => a.id));
  for (const id of [...alertItems.keys()]) if (!ids.has(id)) forgetAlert(id);
  alerts.clear();
  for (const alert of open) {
    alerts.set(alert.id, alert);
    renderAlert(alert);
  }
  redrawAlerts();
}

// --- acknowledgements --------------------------------------------------------------------------

function setAckStatus(alertId, text, cls, pending = false) {
  ackStatus.set(alertId, { text, cls, pending });
  showAckStatus(alertId);
}

function showAckStatus(alertId) {
  const item = alertItems.get(alertId);
  if (!item) return;
  const state = ackStatus.get(alertId);
  item.status.textContent = state ? state.text : "";
  item.status.className = "ack-status" + (state && state.cls ? " " + state.cls : "");
  if (item.button) item.button.disabled = Boolean(state && state.pending);
}

function sendAck(alertId, input) {
  const alert = alerts.get(alertId);
  if (!alert) return;
  if (!socket || socket.readyState !== WebSocket.OPEN) {
    setAckStatus(alertId, "Not connected; try again when the status says live.", "bad");
    return;
  }
  const note = input.value.trim();
  const requestId = "ack-" + Date.now().toString(36) + "-" + (++counter);
  ackRequests.set(requestId, alertId);
  socket.send(JSON.stringify({
    type: "ack", alert_id: alertId, district: alert.district, note: note || null,
    request_id: requestId,
  }));
  setAckStatus(alertId, "Sending…", "", true);
}

function onAckResult(msg) {
  const alertId = ackRequests.get(msg.request_id) ?? msg.alert_id;
  if (msg.status === "queued") {
    setAckStatus(alertId, "Sent; waiting for the worker's decision…", "", true);
    return;
  }
  ackRequests.delete(msg.request_id);
  if (msg.status === "applied") setAckStatus(alertId, "Acknowledged.", "ok");
  else if (msg.status === "rejected") {
    setAckStatus(alertId, "Not acknowledged: " + (msg.reason || msg.code || "rejected"), "bad");
  } else {
    setAckStatus(alertId, "No decision yet: " + (msg.reason || msg.status), "bad");
  }
}

function onRequestError(msg) {
  const alertId = ackRequests.get(msg.request_id) ?? msg.alert_id;
  ackRequests.delete(msg.request_id);
  if (alertId && alertItems.has(alertId)) {
    setAckStatus(alertId, "Not sent: " + msg.reason + (msg.retry ? " (try again)" : ""), "bad");
  } else {
    console.warn("riskmon: the gateway refused a request:", msg.reason);
  }
}

function dropPendingAcks() {
  // The gateway forgets a connection's acknowledgements when it closes: no answer will come.
  for (const [requestId, alertId] of ackRequests) {
    ackRequests.delete(requestId);
    setAckStatus(alertId, "Connection lost before the answer; the alert shows whether it was "
      + "acknowledged.", "bad");
  }
}

// --- websocket -------------------------------------------------------------------------------

function setStatus(text, cls) {
  const status = $("status");
  status.textContent = text;
  status.className = cls;
}

function websocketUrl() {
  const meta = document.querySelector('meta[name="riskmon-websocket"]');
  const path = (meta && meta.content) || "/ws";
  return (location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + path;
}

function onMessage(msg) {
  switch (msg.type) {
    case "snapshot":
      backoff = BACKOFF_FIRST_MS;
      districts.clear();
      rows.clear();
      for (const update of msg.districts) apply(update, false);
      redrawOrder();  // also for an empty snapshot
      replaceAlerts(msg.alerts || []);
      break;
    case "score":
      apply(msg.update, true);
      break;
    case "alert":
      applyAlert(msg.alert);
      break;
    case "ack_result":
      onAckResult(msg);
      break;
    case "request_error":
      onRequestError(msg);
      break;
    default:
      break;  // a newer gateway's message: ignored
  }
}

function connect() {
  stopSocket();
  const ws = new WebSocket(websocketUrl());
  let opened = false;
  socket = ws;
  setStatus("connecting…", "");
  ws.onopen = () => {
    if (socket !== ws) return;
    opened = true;
    setStatus("live", "live");
  };
  ws.onmessage = (event) => {
    if (socket === ws) onMessage(JSON.parse(event.data));
  };
  ws.onclose = (event) => {
    if (socket !== ws) return;  // replaced or closed by the page itself
    socket = null;
    onClose(event, opened);
  };
}

function stopSocket() {
  clearTimeout(retryTimer);
  retryTimer = null;
  const ws = socket;
  socket = null;
  if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, "page closed it");
  dropPendingAcks();
}

function onClose(event, opened) {
  dropPendingAcks();
  if (event.code === CLOSE_SESSION_ENDED) {
    showLogin("Your session ended: " + (event.reason || "signed out"));
    return;
  }
  let why = opened ? "disconnected" : "cannot connect";
  if (event.code === CLOSE_TOO_MANY_MESSAGES) why = "closed by the gateway: too many messages";
  else if (event.code === CLOSE_QUEUE_OVERFLOW) why = "closed by the gateway: this page fell behind";
  else if (event.code === CLOSE_GOING_AWAY) why = "the gateway is restarting";
  retryLater(why);
}

function retryLater(why) {
  const wait = backoff * (0.5 + Math.random());  // jitter: gateways restart, clients don't stampede
  backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
  setStatus(why + " — retrying in " + (wait / 1000).toFixed(1) + " s", "down");
  clearTimeout(retryTimer);
  retryTimer = setTimeout(resume, wait);
}

async function resume() {
  // Before reconnecting, ask whether the session still holds: a handshake refused for want of
  // a session looks like any other failure (1006) to the page.
  retryTimer = null;
  const mine = generation;
  let answer;
  try {
    answer = await whoAmI();
  } catch (err) {
    if (mine === generation) retryLater("the gateway does not answer");
    return;
  }
  if (mine !== generation) return;  // signed out (or in again) meanwhile
  if (answer.status === 401) {
    showLogin("Your session ended: " + (answer.detail || "you are no longer signed in"));
  } else if (!answer.identity) {
    retryLater("the gateway answered " + answer.status);
  } else {
    setIdentity(answer.identity);
    connect();
  }
}

// --- signing in and out ------------------------------------------------------------------------

async function errorDetail(response) {
  try {
    const text = await response.text();
    try {
      const body = JSON.parse(text);
      if (body && typeof body.detail === "string") return body.detail;
      if (body && typeof body.error === "string") return body.error;
    } catch (err) {
      // not JSON: the text itself
    }
    return text.trim().slice(0, 300) || response.statusText;
  } catch (err) {
    return response.statusText;
  }
}

async function whoAmI() {
  const response = await fetch("/auth/me", {
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json" },
  });
  if (response.status === 200) return { status: 200, identity: await response.json() };
  return { status: response.status, detail: await errorDetail(response) };
}

function setLoginError(text) {
  const box = $("login-error");
  box.textContent = text || "";
  box.hidden = !text;
}

function setNotice(text) {
  const box = $("login-notice");
  box.textContent = text || "";
  box.hidden = !text;
}

function clearData() {
  districts.clear();
  rows.clear();
  for (const id of [...alertItems.keys()]) forgetAlert(id);
  ackRequests.clear();
  ackStatus.clear();
  const waiting = el("td", "muted", "waiting for the snapshot…");
  waiting.colSpan = 7;
  const tr = el("tr");
  tr.append(waiting);
  $("rows").replaceChildren(tr);
  $("alerts").replaceChildren();
  $("alert-count").textContent = "";
  $("alerts-empty").hidden = false;
  $("summary").textContent = "";
}

function setIdentity(identity) {
  me = identity;
  $("whoami").textContent = identity.user + " (" + identity.role + ")";
  $("alerts-section").hidden = !may(RIGHT_ALERTS);
  for (const alert of alerts.values()) renderAlert(alert);  // rights decide the buttons
}

function showLogin(notice) {
  generation += 1;
  stopSocket();
  me = null;
  clearData();
  $("dashboard").hidden = true;
  $("account").hidden = true;
  $("whoami").textContent = "";
  setStatus("signed out", "");
  setNotice(notice);
  setLoginError("");
  $("password").value = "";
  $("login-submit").disabled = false;
  $("login-view").hidden = false;
  ($("username").value ? $("password") : $("username")).focus();
}

function showDashboard(identity) {
  generation += 1;
  $("login-view").hidden = true;
  setLoginError("");
  setNotice("");
  $("password").value = "";
  setIdentity(identity);
  $("account").hidden = false;
  $("logout").disabled = false;
  $("dashboard").hidden = false;
  backoff = BACKOFF_FIRST_MS;
  connect();
}

async function onLoginSubmit(event) {
  event.preventDefault();
  const username = $("username").value.trim();
  const password = $("password").value;
  if (!username || !password) {
    setLoginError("Enter your user name and password.");
    (username ? $("password") : $("username")).focus();
    return;
  }
  const button = $("login-submit");
  button.disabled = true;
  setLoginError("");
  try {
    let response;
    try {
      response = await fetch("/auth/login", {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username, password }),
      });
    } catch (err) {
      setLoginError("The gateway does not answer; try again in a moment.");
      return;
    }
    if (response.status === 200) {
      // The answer holds a bearer token for programs; the page keeps nothing of it: the
      // session cookie the browser just stored is its credential.
      const answer = await whoAmI();
      if (answer.identity) showDashboard(answer.identity);
      else {
        setLoginError("Signed in, but the session was not accepted (" + answer.status + ": "
          + answer.detail + "). Does the browser accept cookies from this site?");
      }
      return;
    }
    const detail = await errorDetail(response);
    if (response.status === 401) {
      setLoginError(capitalized(detail) || "Wrong user name or password.");
    } else if (response.status === 429) {
      const after = response.headers.get("Retry-After");
      setLoginError(capitalized(detail)
        || "Too many failed sign-ins; try again in " + (after || "a few") + " s.");
    } else {
      setLoginError("Sign-in refused (" + response.status + "): " + detail);
    }
    $("password").value = "";
    $("password").focus();
  } catch (err) {
    setLoginError("Sign-in failed: " + err);
  } finally {
    button.disabled = false;
  }
}

async function onLogout() {
  $("logout").disabled = true;
  stopSocket();  // closed by the page: its 4001 is no news
  let notice = "You signed out.";
  try {
    const response = await fetch("/auth/logout", {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
    });
    if (response.status >= 400 && response.status !== 401) {
      notice = "Signing out failed (" + response.status + ": " + (await errorDetail(response))
        + "); this browser may still be signed in.";
    }
  } catch (err) {
    notice = "The gateway did not answer; this browser may still be signed in.";
  }
  showLogin(notice);
}

async function start() {
  $("login").addEventListener("submit", onLoginSubmit);
  $("logout").addEventListener("click", onLogout);
  let answer;
  try {
    answer = await whoAmI();
  } catch (err) {
    showLogin("");
    setLoginError("The gateway does not answer; reload the page in a moment.");
    return;
  }
  if (answer.identity) {
    showDashboard(answer.identity);
    return;
  }
  showLogin("");
  if (answer.status !== 401) {
    setLoginError("The gateway answered " + answer.status + ": " + answer.detail);
  }
}

start();
