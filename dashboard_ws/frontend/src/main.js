// riskmon's control-room page: sign-in, the live map of districts with their grades, the alert
// panel with acknowledgement, the district panel ("why did it change"), time travel, the
// statistics map, Korean and English, dark and light, kiosk mode (?kiosk=1).
//
// Served as /static/dist/app.js under the gateway's Content-Security-Policy (script-src 'self',
// style-src 'self', img-src 'self' data: + the configured base map): no inline script or
// style, no eval; this code sets classes, attributes and text, and Leaflet positions its
// elements through the CSSOM (which the policy allows).
//
// The gateway (same origin, session cookie):
//   GET /auth/me, POST /auth/login, POST /auth/logout   (see api.js)
//   /ws: snapshot, scores, alert, ack_result, request_error; the page sends ack (see socket.js)
//   GET /api/city, /api/scores?at=, /api/districts/{code}/history, /api/events, /api/alerts,
//       /api/heat, /api/stats
import "./app.css";
import * as api from "./api.js";
import { AlertsView } from "./alerts.js";
import { CapAreas, CapOut } from "./capout.js";
import * as L from "leaflet";
import { $, el, setOptions } from "./dom.js";
import { age, clock, dateTime, fixed, fromInputValue, offsetLabel, offsetMinutes, rfc3339, shortTime, toInputValue } from "./format.js";
import { GRADE_COLOURS, GRADE_CUTS, CLASS_COLOURS, NO_DATA_COLOUR, layerKeys, layerValue, legendBands } from "./grades.js";
import { chooseLanguage, translate, translateOr, LANGUAGES } from "./i18n.js";
import { DistrictMap } from "./map.js";
import { DistrictPanel, domainName } from "./panel.js";
import { LiveSocket, CLOSE } from "./socket.js";
import { chime, enableSound, soundAvailable } from "./sound.js";
import {
  alertsReducer,
  backoff as nextBackoff,
  clusterDistricts,
  connectionReducer,
  emptyAlerts,
  emptyScores,
  flashGate,
  initialConnection,
  scoresAt,
  scoresReducer,
  STALE_AFTER_MS as STALE_DEFAULT_MS,
} from "./state.js";
import { StatsView } from "./stats.js";
import { ComplaintsHeat, ComplaintsView } from "./complaints.js";
import { RIGHT_WHATIF, WhatIfView } from "./whatif.js";
import { DistrictTable } from "./table.js";

const params = new URLSearchParams(location.search);
const KIOSK = params.get("kiosk") === "1";
// "stale": no message for 30 s (state.js); ?stale=SECONDS overrides it.
const STALE_AFTER_MS = Number(params.get("stale")) > 0 ? Number(params.get("stale")) * 1000 : STALE_DEFAULT_MS;
const DAY_MS = 24 * 3600 * 1000;
const OVERLAY_REFRESH_MS = 60_000;
const CITY_RETRY_MS = 10_000;
const RIGHT_ALERTS = "live.alerts";
const RIGHT_EXACT = "events.exact";

const store = {
  lang: "ko",
  theme: "dark",
  me: null,
  city: null,
  props: new Map(), // code -> feature properties
  scores: emptyScores(),
  alerts: emptyAlerts(),
  conn: initialConnection(),
  layer: "composite",
  past: null, // {at: Date, data: scoresAt(...)} while the map shows a past moment
  pastRequest: 0,
  selected: null,
  lastFlash: {},
  generation: 0,
  backoff: 0,
  retryTimer: null,
  ackRequests: new Map(), // request_id -> alert id, until its final answer
  counter: 0,
  view: "map",
};

const storage = {
  get(area, key) {
    try {
      return window[area].getItem("riskmon." + key);
    } catch {
      return null;
    }
  },
  set(area, key, value) {
    try {
      window[area].setItem("riskmon." + key, value);
    } catch {
      // storage refused (private mode): the choice lasts for this page only
    }
  },
};

const ctx = {
  t: (key, vars) => translate(store.lang, key, vars),
  tOr: (key, fallback) => translateOr(store.lang, key, fallback),
  lang: () => store.lang,
  tz: () => (store.city && store.city.timezone) || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC",
  may: (right) => store.me !== null && Array.isArray(store.me.rights) && store.me.rights.includes(right),
  kiosk: KIOSK,
  city: () => store.city,
  cuts: () => (store.city && store.city.grade_cuts) || GRADE_CUTS,
  districtProps: (code) => store.props.get(code),
  labelOf: (props, lang) => (lang === "en" ? props.name_en || props.name : props.name) || props.code,
  nameOf: (code) => {
    const props = store.props.get(code);
    if (props) return ctx.labelOf(props, store.lang);
    const update = store.scores.byCode[code];
    return update ? update.name : code;
  },
  scoreOf: (code) => (store.past ? store.past.data.byCode[code] : store.scores.byCode[code]),
  lastDriversOf: (code) => store.scores.lastDrivers[code],
  past: () => (store.past ? store.past.at : null),
};

let map = null;
let panel = null;
let alertsView = null;
let capOut = null; // public warnings (CAP) for operators
let capAreas = null; // the CAP alerts in effect, outlined on the map
let table = null;
let stats = null;
let complaints = null; // the complaints statistics map (complaints.js)
let complaintsHeat = null;
let whatif = null; // the policy map (whatif.js), for analysts and admins
const socket = new LiveSocket({ onOpen, onMessage, onClose });

// --- language, theme, static texts ------------------------------------------------------------

function applyTexts() {
  document.documentElement.lang = store.lang;
  document.title = ctx.t("title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = ctx.t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-label]")) {
    node.setAttribute("aria-label", ctx.t(node.dataset.i18nLabel));
  }
  $("lang").value = store.lang;
  if (capOut) capOut.relabel();
  setOptions(
    $("layer"),
    layerKeys().map((key) => [key, layerName(key)]),
    store.layer,
  );
}

function layerName(key) {
  if (key === "composite") return ctx.t("layer.composite");
  if (key === "safety") return ctx.t("layer.safety");
  if (key.startsWith("group:")) return ctx.t("group." + key.slice(6));
  return domainName(ctx, key);
}

function setLanguage(lang, { save = false } = {}) {
  if (!LANGUAGES.includes(lang)) return;
  store.lang = lang;
  if (save) storage.set("localStorage", "lang", lang);
  applyTexts();
  redrawAll();
}

function setTheme(theme, { save = false } = {}) {
  store.theme = theme === "light" ? "light" : "dark";
  document.documentElement.dataset.theme = store.theme;
  $("theme").value = store.theme;
  if (save) storage.set("localStorage", "theme", store.theme);
}

/** Grade colours from grades.js (tested for contrast) as CSS custom properties (CSSOM). */
function applyPalette() {
  const root = document.documentElement.style;
  for (const [grade, c] of Object.entries(GRADE_COLOURS)) {
    root.setProperty("--g" + grade, c.fill);
    root.setProperty("--g" + grade + "-text", c.text);
  }
  root.setProperty("--g0", NO_DATA_COLOUR.fill);
  root.setProperty("--g0-text", NO_DATA_COLOUR.text);
  CLASS_COLOURS.forEach((c, i) => root.setProperty("--c" + (i + 1), c));
}

// --- the connection's state -------------------------------------------------------------------

function dispatchConn(action) {
  store.conn = connectionReducer(store.conn, action);
  showStatus();
}

function showStatus() {
  const status = $("status");
  const phase = store.conn.phase;
  status.textContent = ctx.t("status." + phase);
  status.className = "status " + phase;
  status.dataset.state = phase; // test hook: live | reconnecting | stale | connecting | signed_out
  let detail = "";
  if (phase === "stale") {
    const a = age((Date.now() - store.conn.lastMessageAt) / 1000);
    detail = ctx.t("status.stale_detail", { age: a.n + " " + ctx.t("unit." + a.unit) });
  } else if (phase === "reconnecting" && store.conn.why) {
    const s = store.conn.retryAt ? Math.max(0, (store.conn.retryAt - Date.now()) / 1000) : 0;
    detail = ctx.t("status.retry", { why: ctx.t(store.conn.why.key, store.conn.why.vars), s: s.toFixed(0) });
  }
  $("status-detail").textContent = detail;
  document.body.classList.toggle("is-stale", phase === "stale");
  document.body.classList.toggle("is-down", phase === "reconnecting");
}

function tick() {
  const now = Date.now();
  if (store.conn.phase === "live" || store.conn.phase === "stale" || store.conn.phase === "reconnecting") {
    dispatchConn({ type: "tick", at: now, staleAfterMs: STALE_AFTER_MS });
  }
  if (store.city) $("clock").textContent = clock(now, ctx.tz());
  if (!store.past) updateSliderLabel();
}

// --- the map -----------------------------------------------------------------------------------

function paintDistrict(code) {
  if (!map) return;
  const update = ctx.scoreOf(code);
  const { value, grade } = layerValue(update, store.layer, ctx.cuts());
  const name = ctx.nameOf(code);
  const words = grade ? ctx.t("grade.label", { grade }) + " " + ctx.t((store.layer === "safety" ? "safety." : "grade.") + grade) : ctx.t("grade.none");
  const ariaLabel =
    value === null
      ? ctx.t("map.district_nodata", { name })
      : ctx.t("map.district_label", { name, layer: layerName(store.layer), value: fixed(value), grade: words });
  map.setDistrict(code, {
    grade,
    valueText: value === null ? "–" : fixed(value),
    ariaLabel,
    title: ariaLabel,
  });
}

function paintAll() {
  if (!map) return;
  for (const code of map.codes()) paintDistrict(code);
  drawLegend();
  summarize();
}

function drawLegend() {
  if (!map) return;
  const box = el("div", "legend-body");
  box.append(el("div", "legend-title", layerName(store.layer)));
  const list = el("ul", "legend-list");
  const safety = store.layer === "safety";
  const bands = legendBands(store.layer, ctx.cuts());
  for (const band of safety ? bands : [...bands].reverse()) {
    const swatch = el("span", "swatch", String(band.grade));
    swatch.dataset.grade = String(band.grade);
    list.append(
      el(
        "li",
        null,
        swatch,
        " " + ctx.t((safety ? "safety." : "grade.") + band.grade) + " ",
        el("span", "muted", ctx.t("legend.range", { from: band.from.toFixed(1), to: band.to.toFixed(1) })),
      ),
    );
  }
  const none = el("span", "swatch", "–");
  none.dataset.grade = "";
  list.append(el("li", null, none, " " + ctx.t("grade.none")));
  box.append(list);
  if (heatState.note) box.append(el("div", "legend-heat muted", heatState.note));
  map.setLegend(box);
}

function summarize() {
  const all = Object.values(store.past ? store.past.data.byCode : store.scores.byCode).filter((u) => u.composite);
  if (!all.length) {
    $("summary").textContent = "";
    return;
  }
  const worst = all.reduce((a, b) => (b.composite.value > a.composite.value ? b : a));
  $("summary").textContent = ctx.t("summary", { n: all.length, name: ctx.nameOf(worst.district), value: fixed(worst.composite.value) });
}

async function loadCity() {
  const mine = store.generation;
  let answer;
  try {
    answer = await api.getJSON("/api/city");
  } catch (err) {
    answer = { status: 0, detail: String(err) };
  }
  if (mine !== store.generation || !store.me) return;
  if (answer.status !== 200) {
    if (answer.status === 401) return;
    $("map-error").textContent = ctx.t("map.error", { detail: answer.status ? answer.status + " " + answer.detail : answer.detail });
    $("map-error").hidden = false;
    setTimeout(() => {
      if (mine === store.generation && store.me && !store.city) loadCity();
    }, CITY_RETRY_MS);
    return;
  }
  $("map-error").hidden = true;
  const city = answer.body;
  store.city = city;
  store.props.clear();
  for (const f of (city.districts && city.districts.features) || []) {
    const code = String((f.properties && f.properties.code) || f.id);
    store.props.set(code, { ...f.properties, code });
  }
  // The city's language is the default when neither the address nor an earlier choice on this
  // browser settled it.
  const lang = chooseLanguage({
    param: params.get("lang"),
    saved: storage.get("localStorage", "lang"),
    browser: navigator.language,
    city: city.language,
  });
  if (lang !== store.lang) setLanguage(lang);
  if (!map) {
    map = new DistrictMap($("map"), { onSelect: selectDistrict });
  }
  map.setCity(city, { lang: store.lang, labelOf: ctx.labelOf });
  $("map").setAttribute("aria-label", ctx.t("map") + " — " + (store.lang === "ko" && city.name_local ? city.name_local : city.name));
  $("map").setAttribute("role", "region");
  $("map-note").textContent = city.approximate ? ctx.t("map.approximate") : "";
  $("map-note").hidden = !city.approximate;
  $("basemap-field").hidden = !city.base_map;
  $("basemap").checked = Boolean(city.base_map) && storage.get("localStorage", "basemap") !== "0";
  map.setBaseMap(city.base_map, $("basemap").checked);
  redrawAll();
  if (store.selected) map.select(store.selected);
  if ($("heat").checked) loadHeat();
  if ($("markers").checked) loadMarkers();
  if (complaintsHeat) complaintsHeat.load();
  if (capAreas) capAreas.load();
}

// --- selection and the district panel ----------------------------------------------------------

function selectDistrict(code) {
  if (KIOSK) return;
  store.selected = code || null;
  if (map) map.select(store.selected);
  if (store.selected) panel.open(store.selected);
  else panel.close();
}

// --- live messages -------------------------------------------------------------------------------

function onOpen() {
  dispatchConn({ type: "open", at: Date.now() });
}

function onMessage(msg) {
  dispatchConn({ type: "message", at: Date.now() });
  switch (msg.type) {
    case "snapshot":
      store.backoff = 0;
      store.scores = scoresReducer(store.scores, { type: "snapshot", districts: msg.districts || [] });
      store.alerts = alertsReducer(store.alerts, { type: "snapshot", alerts: msg.alerts || [] });
      if (!store.past) {
        paintAll();
        table.renderAll(store.scores.byCode);
      }
      drawAlerts();
      if (panel.isOpen() && !store.past) panel.render();
      break;
    case "scores":
      onScores(msg.districts || []);
      break;
    case "alert":
      onAlert(msg.alert);
      break;
    case "ack_result":
      onAckResult(msg);
      break;
    case "request_error":
      onRequestError(msg);
      break;
    case "heartbeat":
      break; // only a sign of life (counted above): a quiet city is not a stale page
    default:
      break; // a newer gateway's message: ignored
  }
}

function onScores(updates) {
  store.scores = scoresReducer(store.scores, { type: "scores", districts: updates });
  const changed = store.scores.changed;
  if (!changed.length) return;
  if (store.past) return; // the map and table show the past: the live state waits for "back to live"
  const byCode = store.scores.byCode;
  if (changed.every((code) => table.rows.has(code) && table.rows.get(code).isConnected)) {
    for (const code of changed) table.render(byCode[code], true);
  } else table.renderAll(byCode);
  const now = Date.now();
  for (const code of changed) {
    paintDistrict(code);
    const [may, last] = flashGate(store.lastFlash[code], now);
    store.lastFlash[code] = last;
    if (may && map) map.flash(code);
    if (store.selected === code) panel.changed(byCode[code]);
  }
  summarize();
}

function onAlert(alert) {
  store.alerts = alertsReducer(store.alerts, { type: "alert", alert });
  drawAlerts();
  for (const id of store.alerts.fired) {
    const fired = store.alerts.byId[id];
    if (!fired) continue;
    // its district flashes, and with it the other districts of its cluster
    const cluster = fired.cluster ? clusterDistricts(openAlerts())[fired.cluster] : null;
    if (map) for (const code of cluster || [fired.district]) map.alertFlash(code);
    if ($("sound").checked) chime();
  }
}

function openAlerts() {
  return Object.values(store.alerts.byId);
}

function drawAlerts() {
  const alerts = openAlerts();
  alertsView.render(alerts);
  $("alert-count").textContent = alerts.length ? ctx.t("alerts.count", { n: alerts.length }) : "";
  $("alerts-empty").hidden = alerts.length > 0;
  if (map) map.setClusters(clusterDistricts(alerts));
  drawTicker(alerts);
}

function drawTicker(alerts) {
  if (!KIOSK) return;
  const firing = alerts.filter((a) => a.state === "firing").sort((a, b) => (a.fired_at < b.fired_at ? 1 : -1));
  $("ticker-text").textContent = firing.length
    ? firing
        .map(
          (a) =>
            ctx.tOr("severity." + a.severity, a.severity) + " · " + ctx.nameOf(a.district) + " · " + domainName(ctx, a.domain) + " · " + shortTime(a.fired_at || a.opened_at, ctx.tz()),
        )
        .join("   ◆   ")
    : ctx.t("ticker.none");
  $("ticker-text").classList.toggle("scrolling", firing.length > 0);
}

// --- acknowledgements ------------------------------------------------------------------------------

function sendAck(alertId, note) {
  const alert = store.alerts.byId[alertId];
  if (!alert) return;
  if (!socket.isOpen()) {
    alertsView.setStatus(alertId, "ack.not_connected", null, "bad");
    return;
  }
  const requestId = "ack-" + Date.now().toString(36) + "-" + ++store.counter;
  store.ackRequests.set(requestId, alertId);
  socket.send({ type: "ack", alert_id: alertId, district: alert.district, note: note || null, request_id: requestId });
  alertsView.setStatus(alertId, "ack.sending", null, "", true);
}

function onAckResult(msg) {
  const alertId = store.ackRequests.get(msg.request_id) ?? msg.alert_id;
  if (msg.status === "queued") {
    alertsView.setStatus(alertId, "ack.queued", null, "", true);
    return;
  }
  store.ackRequests.delete(msg.request_id);
  if (msg.status === "applied") alertsView.setStatus(alertId, "ack.applied", null, "ok");
  else if (msg.status === "rejected") {
    alertsView.setStatus(alertId, "ack.rejected", { reason: msg.reason || msg.code || "rejected" }, "bad");
  } else {
    alertsView.setStatus(alertId, "ack.undecided", { reason: msg.reason || msg.status }, "bad");
  }
}

function onRequestError(msg) {
  const alertId = store.ackRequests.get(msg.request_id) ?? msg.alert_id;
  store.ackRequests.delete(msg.request_id);
  if (alertId && alertsView.has(alertId)) {
    alertsView.setStatus(alertId, "ack.not_sent", { reason: msg.reason + (msg.retry ? ctx.t("ack.try_again") : "") }, "bad");
  } else {
    console.warn("riskmon: the gateway refused a request:", msg.reason);
  }
}

function dropPendingAcks() {
  // The gateway forgets a connection's acknowledgements when it closes: no answer will come.
  for (const [requestId, alertId] of store.ackRequests) {
    store.ackRequests.delete(requestId);
    alertsView.setStatus(alertId, "ack.lost", null, "bad");
  }
}

// --- connecting and reconnecting -----------------------------------------------------------------

function connect() {
  clearTimeout(store.retryTimer);
  store.retryTimer = null;
  dispatchConn({ type: "connect" });
  socket.connect();
}

function onClose(event, opened) {
  dropPendingAcks();
  if (event.code === CLOSE.SESSION_ENDED) {
    showLogin(ctx.t("session.ended", { reason: event.reason || ctx.t("status.signed_out") }));
    return;
  }
  let why = { key: opened ? "why.disconnected" : "why.cannot_connect" };
  if (event.code === CLOSE.TOO_MANY_MESSAGES) why = { key: "why.too_many" };
  else if ([CLOSE.QUEUE_OVERFLOW, CLOSE.TOO_SLOW].includes(event.code)) why = { key: "why.overflow" };
  else if (event.code === CLOSE.GOING_AWAY) why = { key: "why.going_away" };
  retryLater(why);
}

function retryLater(why) {
  const { base, wait } = nextBackoff(store.backoff);
  store.backoff = base;
  dispatchConn({ type: "close", at: Date.now(), retryInMs: wait, why });
  clearTimeout(store.retryTimer);
  store.retryTimer = setTimeout(resume, wait);
}

async function resume() {
  // Before reconnecting, ask whether the session still holds: a handshake refused for want of
  // a session looks like any other failure (1006) to the page.
  store.retryTimer = null;
  const mine = store.generation;
  let answer;
  try {
    answer = await api.whoAmI();
  } catch {
    if (mine === store.generation) retryLater({ key: "why.no_answer" });
    return;
  }
  if (mine !== store.generation) return;
  if (answer.status === 401) {
    showLogin(ctx.t("session.ended", { reason: answer.detail || ctx.t("session.gone") }));
  } else if (!answer.identity) {
    retryLater({ key: "why.answered", vars: { status: answer.status } });
  } else {
    setIdentity(answer.identity);
    connect(); // a fresh snapshot comes first
  }
}

/** An API call was refused with 401: if /auth/me says so too, the session is over. */
async function checkSession() {
  if (!store.me) return;
  const mine = store.generation;
  try {
    const answer = await api.whoAmI();
    if (mine === store.generation && answer.status === 401) {
      showLogin(ctx.t("session.ended", { reason: answer.detail || ctx.t("session.gone") }));
    }
  } catch {
    // the gateway does not answer: the websocket's close says what to do
  }
}

// --- time travel --------------------------------------------------------------------------------------

function updateSliderLabel() {
  const minutes = Number($("time-slider").value);
  const at = new Date(Date.now() + minutes * 60000);
  const text =
    minutes === 0 ? ctx.t("time.live") : ctx.t("time.ago", { at: dateTime(at, ctx.tz()), n: -minutes < 60 ? -minutes : Math.floor(-minutes / 60), unit: ctx.t(-minutes < 60 ? "unit.min" : "unit.h") });
  $("time-label").textContent = text;
  $("time-slider").setAttribute("aria-valuetext", text);
}

async function goPast(at) {
  if (at.getTime() >= Date.now()) {
    goLive();
    return;
  }
  const request = ++store.pastRequest;
  document.body.classList.add("past");
  $("back-to-live").hidden = false;
  $("not-live").hidden = false;
  $("time-state").textContent = ctx.t("time.loading", { at: dateTime(at, ctx.tz()) });
  $("time-picker").value = toInputValue(at, ctx.tz());
  const minutes = Math.round((at.getTime() - Date.now()) / 60000);
  $("time-slider").value = String(Math.max(-1440, Math.min(0, minutes)));
  let answer;
  try {
    answer = await api.getJSON("/api/scores", { at: rfc3339(at) });
  } catch (err) {
    answer = { status: 0, detail: String(err) };
  }
  if (request !== store.pastRequest) return;
  if (answer.status !== 200) {
    $("time-state").textContent = ctx.t("time.error", { detail: answer.detail });
    return;
  }
  store.past = { at, data: scoresAt(answer.body) };
  showPastState();
  paintAll();
  table.renderAll(store.past.data.byCode, { emptyKey: "table.nodata" });
  if (panel.isOpen()) {
    panel.render();
    panel.loadAll();
  }
  if ($("heat").checked) loadHeat();
}

function showPastState() {
  if (!store.past) return;
  const d = store.past.data;
  const parts = [ctx.t("time.showing", { at: dateTime(store.past.at, ctx.tz()) })];
  if (d.versions.length) parts.push(ctx.t("time.model", { version: d.versions.join(", ") }));
  if (d.missing.length) parts.push(ctx.t("time.missing", { n: d.missing.length }));
  $("time-state").textContent = parts.join(" · ");
  $("time-label").textContent = dateTime(store.past.at, ctx.tz());
}

function goLive() {
  store.pastRequest += 1;
  const was = store.past !== null;
  store.past = null;
  document.body.classList.remove("past");
  $("back-to-live").hidden = true;
  $("not-live").hidden = true;
  $("time-state").textContent = "";
  $("time-slider").value = "0";
  $("time-picker").value = "";
  updateSliderLabel();
  paintAll();
  if (was) table.renderAll(store.scores.byCode);
  if (panel.isOpen()) {
    panel.render();
    if (was) panel.loadAll();
  }
  if (was && $("heat").checked) loadHeat();
}

// --- overlays: heat and incident markers --------------------------------------------------------------

const heatState = { note: "", timer: null, request: 0 };

async function loadHeat() {
  clearTimeout(heatState.timer);
  const request = ++heatState.request;
  if (!$("heat").checked || !map) {
    heatState.note = "";
    if (map) map.setHeat(null);
    drawLegend();
    return;
  }
  const to = store.past ? store.past.at : new Date();
  const from = new Date(to.getTime() - DAY_MS);
  let answer;
  let h3;
  try {
    [answer, h3] = await Promise.all([
      api.getJSON("/api/heat", { from: rfc3339(from), to: rfc3339(to) }),
      import("h3-js"), // a chunk of its own: loaded only with the heat layer
    ]);
  } catch (err) {
    answer = { status: 0, detail: String(err) };
  }
  if (request !== heatState.request || !$("heat").checked) return;
  if (answer.status !== 200) {
    heatState.note = ctx.t("panel.unavailable", { detail: answer.detail });
    map.setHeat(null);
  } else {
    const cells = answer.body.cells || [];
    const max = Math.max(0, ...cells.map((c) => c.intensity));
    map.setHeat(
      cells
        .map((c) => {
          try {
            return { ring: h3.cellToBoundary(c.h3), level: max > 0 ? c.intensity / max : 0 };
          } catch {
            return null; // not a cell
          }
        })
        .filter(Boolean),
    );
    heatState.note = cells.length ? ctx.t("heat.legend", { res: answer.body.resolution }) : ctx.t("heat.none");
  }
  drawLegend();
  if (!store.past) heatState.timer = setTimeout(loadHeat, OVERLAY_REFRESH_MS);
}

const markerState = { timer: null, request: 0 };

async function loadMarkers() {
  clearTimeout(markerState.timer);
  const request = ++markerState.request;
  if (!$("markers").checked || !map || !ctx.may(RIGHT_EXACT)) {
    if (map) map.setMarkers(null);
    return;
  }
  const to = new Date();
  let answer;
  try {
    answer = await api.getJSON("/api/events", { kind: "incident", from: rfc3339(to.getTime() - DAY_MS), to: rfc3339(to), limit: 1000 });
  } catch (err) {
    answer = { status: 0, detail: String(err) };
  }
  if (request !== markerState.request || !$("markers").checked) return;
  if (answer.status === 200) {
    const markers = (answer.body.events || [])
      .filter((e) => e.incident && e.incident.lat !== null && e.incident.lat !== undefined)
      .map((e) => ({
        lat: e.incident.lat,
        lon: e.incident.lon,
        severity: e.incident.severity,
        title:
          ctx.tOr("type." + e.incident.type, e.incident.type) +
          " · " +
          ctx.t("event.severity", { n: e.incident.severity }) +
          " · " +
          shortTime(e.incident.occurred_at, ctx.tz()) +
          " · " +
          e.incident.source +
          ":" +
          e.incident.id,
      }));
    map.setMarkers(markers);
  }
  markerState.timer = setTimeout(loadMarkers, OVERLAY_REFRESH_MS);
}

// --- views (tabs) --------------------------------------------------------------------------------------

const VIEWS = ["map", "table", "stats", "complaints", "whatif"];
const shownViews = () => VIEWS.filter((v) => !$(v + "-tab").hidden); // whatif: analysts only

function showView(view, { focus = false } = {}) {
  store.view = view;
  for (const v of VIEWS) {
    const tab = $(v + "-tab");
    const selected = v === view;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(v + "-view").hidden = !selected;
    if (selected && focus) tab.focus();
  }
  if (view === "map" && map) map.invalidate();
  if (view === "stats") stats.shown();
  if (view === "complaints") complaints.shown();
  if (view === "whatif") whatif.shown();
}

function onTabKey(event) {
  const views = shownViews();
  const i = views.indexOf(store.view);
  let next = null;
  if (event.key === "ArrowRight") next = views[(i + 1) % views.length];
  else if (event.key === "ArrowLeft") next = views[(i - 1 + views.length) % views.length];
  else if (event.key === "Home") next = views[0];
  else if (event.key === "End") next = views[views.length - 1];
  if (next) {
    event.preventDefault();
    showView(next, { focus: true });
  }
}

// --- everything in the current language --------------------------------------------------------------

function redrawAll() {
  if (map && store.city) map.setCity(store.city, { lang: store.lang, labelOf: ctx.labelOf });
  paintAll();
  if (store.city) {
    const tz = ctx.tz();
    $("clock").title = ctx.t("city.time", { tz, offset: offsetLabel(offsetMinutes(Date.now(), tz)) });
  }
  if (table) {
    const shown = store.past ? store.past.data.byCode : store.scores.byCode;
    table.renderAll(shown, { emptyKey: store.past ? "table.nodata" : "table.waiting" });
  }
  if (alertsView) drawAlerts();
  if (panel && panel.isOpen()) {
    panel.open(panel.code);
    panel.loadAll(); // its lists in the new language
  }
  if (stats) stats.relabel();
  if (complaints) complaints.relabel();
  if (whatif) whatif.relabel();
  if (store.past) showPastState();
  else updateSliderLabel();
  if (store.me) $("whoami").textContent = ctx.t("whoami", { user: store.me.user, role: store.me.role });
  showStatus();
}

// --- signing in and out ---------------------------------------------------------------------------------

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
  store.scores = scoresReducer(store.scores, { type: "clear" });
  store.alerts = alertsReducer(store.alerts, { type: "clear" });
  store.ackRequests.clear();
  store.lastFlash = {};
  alertsView.clear();
  table.waiting();
  $("alert-count").textContent = "";
  $("alerts-empty").hidden = false;
  $("summary").textContent = "";
  if (map) {
    for (const code of map.codes()) map.setDistrict(code, { grade: null, valueText: "–" });
    map.setClusters({});
  }
}

function setIdentity(identity) {
  store.me = identity;
  $("whoami").textContent = ctx.t("whoami", { user: identity.user, role: identity.role });
  $("alerts-section").hidden = !ctx.may(RIGHT_ALERTS);
  $("markers-field").hidden = !ctx.may(RIGHT_EXACT);
  if (capOut) capOut.setRights();
  $("whatif-tab").hidden = !ctx.may(RIGHT_WHATIF);
  if ($("whatif-tab").hidden && store.view === "whatif") showView("map");
  if (alertsView) drawAlerts(); // rights decide the acknowledge buttons
}

function showLogin(notice) {
  store.generation += 1;
  clearTimeout(store.retryTimer);
  store.retryTimer = null;
  socket.stop();
  dropPendingAcks();
  store.me = null;
  clearData();
  if (store.past) goLive();
  selectDistrict(null);
  $("dashboard").hidden = true;
  $("account").hidden = true;
  $("whoami").textContent = "";
  dispatchConn({ type: "signed_out" });
  setNotice(notice);
  setLoginError("");
  $("password").value = "";
  $("login-submit").disabled = false;
  $("login-view").hidden = false;
  ($("username").value ? $("password") : $("username")).focus();
}

function showDashboard(identity) {
  store.generation += 1;
  $("login-view").hidden = true;
  setLoginError("");
  setNotice("");
  $("password").value = "";
  setIdentity(identity);
  $("account").hidden = false;
  $("logout").disabled = false;
  $("dashboard").hidden = false;
  store.backoff = 0;
  if (map) map.invalidate();
  if (!store.city) loadCity();
  connect();
  if (store.view === "stats") stats.shown();
  if (store.view === "complaints") complaints.shown();
  if (store.view === "whatif") whatif.shown();
}

async function onLoginSubmit(event) {
  event.preventDefault();
  const username = $("username").value.trim();
  const password = $("password").value;
  if (!username || !password) {
    setLoginError(ctx.t("login.missing"));
    (username ? $("password") : $("username")).focus();
    return;
  }
  const button = $("login-submit");
  button.disabled = true;
  setLoginError("");
  try {
    let response;
    try {
      response = await api.login(username, password);
    } catch {
      setLoginError(ctx.t("login.no_answer"));
      return;
    }
    if (response.status === 200) {
      // The answer holds a bearer token for programs; the page keeps nothing of it: the
      // session cookie the browser just stored is its credential.
      const answer = await api.whoAmI();
      if (answer.identity) showDashboard(answer.identity);
      else setLoginError(ctx.t("login.no_session", { status: answer.status, detail: answer.detail }));
      return;
    }
    const detail = await api.errorDetail(response);
    if (response.status === 401) setLoginError(store.lang === "en" && detail ? capitalized(detail) : ctx.t("login.wrong"));
    else if (response.status === 429) {
      setLoginError(ctx.t("login.too_many", { s: response.headers.get("Retry-After") || "…" }));
    } else setLoginError(ctx.t("login.refused", { status: response.status, detail }));
    $("password").value = "";
    $("password").focus();
  } catch (err) {
    setLoginError(ctx.t("login.failed", { detail: String(err) }));
  } finally {
    button.disabled = false;
  }
}

function capitalized(text) {
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
}

async function onLogout() {
  $("logout").disabled = true;
  socket.stop(); // closed by the page: its 4001 is no news
  let notice = ctx.t("logout.done");
  try {
    const response = await api.logout();
    if (response.status >= 400 && response.status !== 401) {
      notice = ctx.t("logout.failed", { status: response.status, detail: await api.errorDetail(response) });
    }
  } catch {
    notice = ctx.t("logout.no_answer");
  }
  showLogin(notice);
}

// --- settings ----------------------------------------------------------------------------------------------

async function onSoundChange() {
  const on = $("sound").checked;
  storage.set("sessionStorage", "sound", on ? "1" : "0");
  if (on && (await enableSound())) chime({ quiet: true }); // the operator hears what will ring
}

function bindControls() {
  $("login").addEventListener("submit", onLoginSubmit);
  $("logout").addEventListener("click", onLogout);
  $("lang").addEventListener("change", () => setLanguage($("lang").value, { save: true }));
  $("theme").addEventListener("change", () => setTheme($("theme").value, { save: true }));
  $("sound").addEventListener("change", onSoundChange);
  $("sound").disabled = !soundAvailable();
  // The sound is enabled for the session (this tab); a kiosk has no controls: ?sound=1.
  const soundWanted = storage.get("sessionStorage", "sound") === "1" || (KIOSK && params.get("sound") === "1");
  if (soundWanted && soundAvailable()) {
    $("sound").checked = true;
    // Browsers start audio only from a gesture: the first click or key of this page wakes it.
    const wake = () => enableSound();
    window.addEventListener("pointerdown", wake, { once: true });
    window.addEventListener("keydown", wake, { once: true });
  }
  $("layer").addEventListener("change", () => {
    store.layer = $("layer").value;
    storage.set("localStorage", "layer", store.layer);
    paintAll();
    if (panel.isOpen()) panel.render();
  });
  $("heat").addEventListener("change", () => {
    storage.set("localStorage", "heat", $("heat").checked ? "1" : "0");
    loadHeat();
  });
  $("markers").addEventListener("change", loadMarkers);
  $("basemap").addEventListener("change", () => {
    storage.set("localStorage", "basemap", $("basemap").checked ? "1" : "0");
    if (map && store.city) map.setBaseMap(store.city.base_map, $("basemap").checked);
  });
  $("time-slider").addEventListener("input", () => {
    const minutes = Number($("time-slider").value);
    const at = new Date(Date.now() + minutes * 60000);
    $("time-label").textContent = minutes === 0 ? ctx.t("time.live") : dateTime(at, ctx.tz());
  });
  $("time-slider").addEventListener("change", () => {
    const minutes = Number($("time-slider").value);
    if (minutes === 0) goLive();
    else goPast(new Date(Date.now() + minutes * 60000));
  });
  $("time-picker").addEventListener("change", () => {
    const text = $("time-picker").value;
    if (!text) {
      goLive();
      return;
    }
    const at = fromInputValue(text, ctx.tz());
    if (!at) $("time-state").textContent = ctx.t("time.bad", { text });
    else goPast(at);
  });
  $("back-to-live").addEventListener("click", goLive);
  for (const v of VIEWS) {
    $(v + "-tab").addEventListener("click", () => showView(v));
    $(v + "-tab").addEventListener("keydown", onTabKey);
  }
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && store.selected && !event.target.closest("input, select, textarea")) {
      const code = store.selected;
      selectDistrict(null);
      if (map) map.focus(code);
    }
  });
}

async function start() {
  applyPalette();
  if (KIOSK) document.body.classList.add("kiosk");
  $("ticker").hidden = !KIOSK;
  store.lang = chooseLanguage({
    param: params.get("lang"),
    saved: storage.get("localStorage", "lang"),
    browser: navigator.language,
  });
  setTheme(params.get("theme") || storage.get("localStorage", "theme") || "dark");
  const savedLayer = storage.get("localStorage", "layer");
  if (savedLayer && layerKeys().includes(savedLayer)) store.layer = savedLayer;
  $("heat").checked = storage.get("localStorage", "heat") === "1";
  capOut = new CapOut(ctx, $("cap-section"), $("cap-chains"));
  capAreas = new CapAreas(ctx, () => map, $("cap-areas"), $("cap-areas-note"), L);
  alertsView = new AlertsView($("alerts"), ctx, {
    onSelect: selectDistrict,
    onAck: sendAck,
    onWarn: (alertId, district) => capOut.open(alertId, district),
  });
  panel = new DistrictPanel($("district-panel"), ctx, { onClose: () => selectDistrict(null) });
  table = new DistrictTable($("rows"), ctx, { onSelect: selectDistrict });
  stats = new StatsView(ctx);
  complaints = new ComplaintsView(ctx);
  complaintsHeat = new ComplaintsHeat(ctx, () => map);
  whatif = new WhatIfView(ctx);
  applyTexts();
  bindControls();
  redrawAll();
  setInterval(tick, 1000);
  api.setUnauthorizedHandler(checkSession);
  let answer;
  try {
    answer = await api.whoAmI();
  } catch {
    showLogin("");
    setLoginError(ctx.t("login.no_answer_reload"));
    return;
  }
  if (answer.identity) {
    showDashboard(answer.identity);
    return;
  }
  showLogin("");
  if (answer.status !== 401) setLoginError(ctx.t("login.gateway", { status: answer.status, detail: answer.detail }));
}

start();
