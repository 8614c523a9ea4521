// The field page (/field): an inspector reports a structure's safety grade or a facility added
// or removed, at a place (the phone's position or a point picked on the map), with a note and
// photos. Reports go to the outbox first (queue.js, kept in IndexedDB by db.js) and are sent from
// there, one at a time, whenever the phone is online: a report made without connection is sent
// once it returns (the `online` event, and retries with backoff). docs/field.md.
import "./field.css";
import * as L from "leaflet";
import * as api from "../api.js";
import { $, el } from "../dom.js";
import { chooseLanguage } from "../i18n.js";
import { Outbox } from "./db.js";
import { preparePhoto, MAX_PHOTOS } from "./photos.js";
import * as outbox from "./queue.js";
import { t, distanceText } from "./strings.js";

const REPORTS = "/api/field/reports";
const LANG_KEY = "riskmon-field-lang";
const FACILITIES = ["cctv", "security_light", "emergency_bell", "shelter", "hydrant", "fire_station", "police_box", "aed"];

const store = new Outbox();
let lang = chooseLanguage({ param: new URLSearchParams(location.search).get("lang"), saved: safeGet(LANG_KEY), city: "ko" });
let queue = [];
let place = null; // {lat, lon, acc, picked}
let grade = null;
let map = null;
let marker = null;
let pumping = false;
let timer = null;

function safeGet(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

// --- language -------------------------------------------------------------------------------
function applyLanguage() {
  document.documentElement.lang = lang;
  document.title = t(lang, "title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(lang, node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-label]")) node.setAttribute("aria-label", t(lang, node.dataset.i18nLabel));
  $("lang").value = lang;
  renderPlace();
  renderNet();
  renderQueue();
}

// --- sign-in --------------------------------------------------------------------------------
async function start() {
  let me;
  try {
    me = await api.whoAmI();
  } catch {
    me = { status: 0 };
  }
  if (me.status === 200) return signedIn(me.identity);
  if (me.status === 0 && queue.length) return showApp(null); // offline with reports: show them
  showLogin();
}

function showLogin() {
  $("field-login").hidden = false;
  $("field-app").hidden = true;
}

function signedIn(identity) {
  const allowed = identity.rights.includes("field.report");
  $("whoami").textContent = t(lang, "whoami", { user: identity.user, role: identity.role });
  $("no-right").hidden = allowed;
  $("no-right").textContent = allowed ? "" : t(lang, "role.no_right", { user: identity.user, role: identity.role });
  $("report-form").hidden = !allowed;
  showApp(identity);
  if (allowed) {
    update((q) => outbox.resume(q, Date.now())).then(pump);
  }
}

function showApp() {
  $("field-login").hidden = true;
  $("field-app").hidden = false;
  if (!map) drawMap();
}

async function onLogin(event) {
  event.preventDefault();
  const error = $("login-error");
  error.hidden = true;
  let response;
  try {
    response = await api.login($("username").value.trim(), $("password").value);
  } catch {
    error.textContent = t(lang, "login.failed", { detail: "network" });
    error.hidden = false;
    return;
  }
  if (response.status === 200) {
    $("password").value = "";
    return start();
  }
  error.textContent = response.status === 401 ? t(lang, "login.wrong") : t(lang, "login.failed", { detail: await api.errorDetail(response) });
  error.hidden = false;
}

// --- place ----------------------------------------------------------------------------------
function setPlace(next) {
  place = next;
  if (map) {
    const point = [next.lat, next.lon];
    if (marker) marker.setLatLng(point);
    else marker = L.circleMarker(point, { radius: 9, className: "field-marker" }).addTo(map);
    map.panTo(point);
  }
  renderPlace();
}

function renderPlace() {
  const text = $("place-text");
  if (!place) text.textContent = t(lang, "place.none");
  else {
    const vars = { lat: place.lat.toFixed(5), lon: place.lon.toFixed(5), acc: Math.round(place.acc || 0) };
    text.textContent = t(lang, place.picked ? "place.picked" : "place.at", vars);
  }
  $("field-app").dataset.place = place ? `${place.lat},${place.lon}` : "";
}

function locate() {
  if (!navigator.geolocation) {
    $("place-text").textContent = t(lang, "place.denied", { detail: "no GPS" });
    return;
  }
  $("place-text").textContent = t(lang, "place.locating");
  navigator.geolocation.getCurrentPosition(
    (pos) => setPlace({ lat: pos.coords.latitude, lon: pos.coords.longitude, acc: pos.coords.accuracy, picked: false }),
    (err) => ($("place-text").textContent = t(lang, "place.denied", { detail: err.message || err.code })),
    { enableHighAccuracy: true, timeout: 15_000, maximumAge: 30_000 },
  );
}

async function drawMap() {
  map = L.map("pick-map", { zoomControl: true, attributionControl: true }).setView([37.64, 126.68], 11);
  map.on("click", (e) => setPlace({ lat: e.latlng.lat, lon: e.latlng.lng, acc: 0, picked: true }));
  let city = null;
  try {
    const answer = await api.getJSON("/api/city");
    if (answer.status === 200) city = answer.body;
  } catch {
    city = null; // offline: the map has no outlines, a tap still picks a point
  }
  if (!city) return;
  const [w, s, e, n] = city.bounds;
  map.fitBounds([[s, w], [n, e]]);
  if (city.base_map && city.base_map.kind === "xyz") {
    L.tileLayer(city.base_map.url, { attribution: city.base_map.attribution || "", maxZoom: 19 }).addTo(map);
  }
  L.geoJSON(city.districts, { className: "field-district", interactive: false }).addTo(map);
  if (place) setPlace(place);
}

// --- structure search -------------------------------------------------------------------------
async function search() {
  const box = $("search-results");
  const q = $("search-q").value.trim();
  if (!navigator.onLine) {
    box.replaceChildren(el("li", "muted", t(lang, "search.offline")));
    return;
  }
  const params = { q };
  if (place) Object.assign(params, { lat: place.lat.toFixed(6), lon: place.lon.toFixed(6) });
  let answer;
  try {
    answer = await api.getJSON("/api/field/structures", params);
  } catch {
    box.replaceChildren(el("li", "muted", t(lang, "search.offline")));
    return;
  }
  if (answer.status !== 200) {
    box.replaceChildren(el("li", "muted", t(lang, "search.failed", { detail: answer.detail })));
    return;
  }
  const found = answer.body.structures.filter((s) => s.kind === ($("kind-facility").checked ? "facility" : "structure"));
  if (!found.length) {
    box.replaceChildren(el("li", "muted", t(lang, "search.none")));
    return;
  }
  box.replaceChildren(
    ...found.map((s) => {
      const button = el(
        "button",
        "hit",
        t(lang, "search.hit", { id: s.id, district: s.district_name, distance: distanceText(lang, s.distance_m) }),
        s.grade ? el("span", "muted", " " + t(lang, "search.grade", { grade: s.grade })) : null,
      );
      button.type = "button";
      button.dataset.id = s.id;
      button.addEventListener("click", () => pick(s));
      return el("li", null, button);
    }),
  );
}

function pick(s) {
  if (s.kind === "facility") {
    $("facility-id").value = s.id;
    if (s.facility) $("facility-kind").value = s.facility;
  } else $("structure-id").value = s.id;
  if (s.lat !== null && s.lon !== null) setPlace({ lat: s.lat, lon: s.lon, acc: 0, picked: true });
}

// --- the form -----------------------------------------------------------------------------------
function setGrade(value) {
  grade = value;
  for (const b of document.querySelectorAll("button.grade")) b.setAttribute("aria-pressed", String(b.dataset.grade === value));
}

function showKind() {
  const facility = $("kind-facility").checked;
  $("inspection-fields").hidden = facility;
  $("facility-fields").hidden = !facility;
}

function say(key, vars, bad = false) {
  const box = $("form-message");
  box.textContent = t(lang, key, vars);
  box.classList.toggle("bad", bad);
}

async function submit(event) {
  event.preventDefault();
  if (!place) return say("missing.place", null, true);
  const facility = $("kind-facility").checked;
  const report = {
    report_id: crypto.randomUUID(),
    kind: facility ? "facility" : "inspection",
    lat: Number(place.lat.toFixed(6)),
    lon: Number(place.lon.toFixed(6)),
    observed_at: new Date().toISOString(),
    keep_location: $("keep-location").checked,
    photos: [],
  };
  if (facility) {
    const id = $("facility-id").value.trim();
    const action = document.querySelector('input[name="action"]:checked');
    if (!id || !action) return say("missing.facility", null, true);
    Object.assign(report, { facility_id: id, facility: $("facility-kind").value, action: action.value });
  } else {
    const id = $("structure-id").value.trim();
    if (!id || !grade) return say("missing.structure", null, true);
    Object.assign(report, { structure_id: id, grade });
  }
  const note = $("note").value.trim();
  if (note) report.note = note.slice(0, 1000);
  const files = [...$("photos").files];
  if (files.length > MAX_PHOTOS) return say("photos.too_many", null, true);
  for (const file of files) {
    const photo = await preparePhoto(file, report.keep_location);
    if (photo.error) return say("photos.bad", { name: photo.error }, true);
    report.photos.push({ data: photo.data });
  }
  await update((q) => outbox.enqueue(q, report, Date.now()));
  $("report-form").reset();
  setGrade(null);
  showKind();
  say("saved");
  pump();
}

// --- the outbox -------------------------------------------------------------------------------
async function update(change) {
  queue = change(queue);
  renderQueue();
  try {
    await store.save(queue);
  } catch {
    // storage full or unavailable: the queue stays in memory while the page is open
  }
}

async function send(report) {
  try {
    const response = await fetch(REPORTS, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(report),
    });
    if (response.status === 200 || response.status === 201) return { status: response.status, body: await response.json() };
    return { status: response.status, detail: await api.errorDetail(response) };
  } catch {
    return { status: 0, detail: "network" };
  }
}

async function pump() {
  if (pumping) return;
  pumping = true;
  try {
    for (;;) {
      const entry = outbox.next(queue, Date.now(), navigator.onLine);
      if (!entry) break;
      await update((q) => outbox.sending(q, entry.id));
      const outcome = await send(entry.report);
      await update((q) => outbox.settle(q, entry.id, outcome, Date.now(), Math.random()));
      if (outcome.status === 401) {
        showLogin();
        break;
      }
    }
  } finally {
    pumping = false;
    schedule();
  }
}

function schedule() {
  clearTimeout(timer);
  const at = outbox.nextWake(queue);
  if (at !== null) timer = setTimeout(pump, Math.max(0, at - Date.now()) + 50);
}

function renderNet() {
  const online = navigator.onLine;
  const net = $("net");
  net.textContent = t(lang, online ? "net.online" : "net.offline");
  net.dataset.online = String(online);
}

function renderQueue() {
  const list = $("queue");
  const counts = outbox.counts(queue);
  $("queue-summary").textContent = t(lang, "queue.summary", {
    waiting: outbox.pending(queue),
    sent: counts.sent,
    refused: counts.refused,
  });
  if (!queue.length) {
    list.replaceChildren(el("li", "muted", t(lang, "queue.empty")));
    return;
  }
  list.replaceChildren(
    ...[...queue].reverse().map((e) => {
      const r = e.report;
      const what =
        r.kind === "facility"
          ? t(lang, "entry.facility", { id: r.facility_id, facility: t(lang, "facility." + r.facility), action: t(lang, "action." + r.action) })
          : t(lang, "entry.inspection", { id: r.structure_id, grade: r.grade });
      const at = new Date(e.nextAt).toLocaleTimeString(lang === "ko" ? "ko-KR" : "en-GB");
      const state = t(lang, "state." + e.state, { at, detail: e.detail || "" });
      const item = el(
        "li",
        "entry",
        el("span", "entry-what", what),
        el("span", "entry-state state-" + e.state, state),
        e.result ? el("div", "event-id", `${e.result.source}:${e.result.fact_id}`) : null,
      );
      item.dataset.reportId = e.id;
      item.dataset.state = e.state;
      return item;
    }),
  );
}

// --- wiring -----------------------------------------------------------------------------------
function wire() {
  $("login").addEventListener("submit", onLogin);
  $("lang").addEventListener("change", () => {
    lang = $("lang").value;
    try {
      localStorage.setItem(LANG_KEY, lang);
    } catch {
      // private mode: the choice lasts for this page
    }
    applyLanguage();
  });
  $("logout").addEventListener("click", async () => {
    try {
      await api.logout();
    } finally {
      showLogin();
    }
  });
  $("locate").addEventListener("click", locate);
  $("search-button").addEventListener("click", search);
  $("search-q").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      search();
    }
  });
  for (const b of document.querySelectorAll("button.grade")) b.addEventListener("click", () => setGrade(b.dataset.grade));
  $("kind-inspection").addEventListener("change", showKind);
  $("kind-facility").addEventListener("change", showKind);
  $("facility-kind").replaceChildren(
    ...FACILITIES.map((kind) => {
      const option = el("option", null, t(lang, "facility." + kind));
      option.value = kind;
      option.dataset.i18n = "facility." + kind;
      return option;
    }),
  );
  $("report-form").addEventListener("submit", submit);
  window.addEventListener("online", () => {
    renderNet();
    update((q) => outbox.online(q, Date.now())).then(pump);
  });
  window.addEventListener("offline", renderNet);
  api.setUnauthorizedHandler(() => showLogin());
}

async function main() {
  wire();
  queue = await store.load();
  applyLanguage();
  showKind();
  await start();
}

main();
