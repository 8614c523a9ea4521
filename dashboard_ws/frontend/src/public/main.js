// The public safety map (/public): every district filled by one of its public grades, the same
// grades as a list, what they mean and what one can do. No login; its only data is the open
// GeoJSON (/open/districts.geojson: delayed grades only, docs/public.md), revalidated every few
// minutes with the browser's HTTP cache (ETag). Korean first, English on request.
import "./public.css";
import * as L from "leaflet";
import { $, el } from "../dom.js";
import { GRADE_COLOURS, NO_DATA_COLOUR } from "../grades.js";
import { LAYERS, t } from "./strings.js";
import { asOfLines, chooseLang, creditLines, districtRows, gradeText, pathLabel } from "./view.js";

const DATA = "/open/districts.geojson";
const LANG_KEY = "riskmon-public-lang";
const REFRESH_MS = 5 * 60 * 1000;

let lang = chooseLang(new URLSearchParams(location.search).get("lang"), safeGet(LANG_KEY));
let layer = "overall";
let doc = null;
let failed = false;
let selected = null;
let map = null;
const shapes = new Map(); // code -> {sub, path, tip}

function safeGet(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function safeSet(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    /* private mode: the choice lasts this visit */
  }
}

/** Grade colours as custom properties (the CSP allows no inline style; the CSSOM is fine). */
function setColours() {
  const root = document.documentElement.style;
  for (const [grade, c] of Object.entries(GRADE_COLOURS)) {
    root.setProperty("--g" + grade, c.fill);
    root.setProperty("--g" + grade + "-text", c.text);
  }
  root.setProperty("--g0", NO_DATA_COLOUR.fill);
  root.setProperty("--g0-text", NO_DATA_COLOUR.text);
}

// --- data -----------------------------------------------------------------------------------
async function load() {
  try {
    const answer = await fetch(DATA, { cache: "no-cache", headers: { Accept: "application/geo+json" } });
    if (!answer.ok) throw new Error(String(answer.status));
    doc = await answer.json();
    failed = false;
  } catch {
    failed = true; // keep showing what was loaded before, if anything
  }
  render();
}

// --- view -----------------------------------------------------------------------------------
function applyLanguage() {
  document.documentElement.lang = lang;
  document.title = t(lang, "title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(lang, node.dataset.i18n);
  $("lang").value = lang;
  render();
}

function render() {
  $("status").textContent = failed ? t(lang, "failed") : doc ? "" : t(lang, "loading");
  $("status").hidden = !failed && !!doc;
  const { asOf, note } = asOfLines(doc, lang);
  $("as-of").textContent = asOf;
  $("as-of-note").textContent = note;
  for (const input of document.querySelectorAll('input[name="layer"]')) input.checked = input.value === layer;
  $("layer-long").textContent = t(lang, "layer." + layer + ".long");
  if (!doc) return;
  const rows = districtRows(doc, lang);
  drawMap(rows);
  renderLegend();
  renderList(rows);
  renderSelected(rows);
  const credits = $("credits");
  credits.replaceChildren(...creditLines(doc, lang).map((line) => el("li", null, line)));
}

function drawMap(rows) {
  const box = $("map");
  box.setAttribute("aria-label", t(lang, "map", { layer: t(lang, "layer." + layer) }));
  if (!map) {
    map = L.map(box, { zoomSnap: 0.25, minZoom: 8, maxZoom: 16, attributionControl: false });
    const districts = L.geoJSON(doc, {
      style: () => ({ className: "district", weight: 1.5, fillOpacity: 0.8, opacity: 1 }),
      bubblingMouseEvents: false,
    });
    // The view first: Leaflet makes the paths' elements when the layer joins a map with a view.
    const bounds = districts.getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [8, 8] });
    else map.setView([37.64, 126.65], 11);
    districts.addTo(map);
    districts.eachLayer((sub) => addShape(sub));
  }
  for (const row of rows) {
    const shape = shapes.get(row.code);
    if (!shape) continue;
    const grade = row.grades[layer];
    shape.path.setAttribute("data-grade", grade === null ? "" : String(grade));
    shape.path.setAttribute("aria-label", pathLabel(lang, row, layer));
    shape.path.classList.toggle("selected", row.code === selected);
    shape.tip.textContent = grade === null ? "–" : String(grade);
  }
}

function addShape(sub) {
  const props = sub.feature.properties || {};
  const code = String(props.code || sub.feature.id);
  const path = sub.getElement();
  if (!path) return;
  path.setAttribute("data-district", code);
  path.setAttribute("tabindex", "0");
  path.setAttribute("role", "button");
  const tip = el("span", "grade-label");
  sub.bindTooltip(tip, { permanent: true, direction: "center", className: "district-label", interactive: false, opacity: 1 });
  const tipElement = sub.getTooltip() && sub.getTooltip().getElement();
  if (tipElement) {
    tipElement.removeAttribute("role"); // the path's aria-label says it: the number is for the eye
    tipElement.setAttribute("aria-hidden", "true");
  }
  path.removeAttribute("aria-describedby");
  sub.on("click", () => select(code));
  path.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      select(code);
    }
  });
  shapes.set(code, { sub, path, tip });
}

function select(code) {
  selected = code;
  render();
  const item = document.querySelector(`#districts li[data-district="${code}"]`);
  if (item) item.classList.add("selected");
}

function renderLegend() {
  const items = [1, 2, 3, 4, 5].map((grade) => {
    const swatch = el("span", "swatch");
    swatch.setAttribute("data-grade", String(grade));
    swatch.setAttribute("aria-hidden", "true");
    return el("li", null, swatch, gradeText(lang, layer, grade));
  });
  const none = el("span", "swatch");
  none.setAttribute("data-grade", "");
  none.setAttribute("aria-hidden", "true");
  items.push(el("li", null, none, t(lang, "grade.none")));
  $("legend").replaceChildren(...items);
}

function gradeList(row, cls) {
  const list = el("dl", cls);
  for (const name of LAYERS) {
    const chip = el("span", "chip", row.withheld || row.grades[name] === null ? "–" : String(row.grades[name]));
    chip.setAttribute("data-grade", row.grades[name] === null ? "" : String(row.grades[name]));
    chip.setAttribute("aria-hidden", "true");
    const words = el("span", null, gradeText(lang, name, row.grades[name], row.withheld));
    list.append(el("dt", null, t(lang, "layer." + name)), el("dd", null, chip, " ", words));
  }
  return list;
}

function renderList(rows) {
  const items = rows.map((row) => {
    const item = el("li", row.code === selected ? "selected" : null, el("h3", null, row.name), gradeList(row, "grades"));
    item.setAttribute("data-district", row.code);
    return item;
  });
  $("districts").replaceChildren(...items);
}

function renderSelected(rows) {
  const row = rows.find((r) => r.code === selected);
  const box = $("selected");
  box.hidden = !row;
  if (!row) return;
  $("selected-body").replaceChildren(el("h3", null, row.name), gradeList(row, "grades"));
}

// --- start ----------------------------------------------------------------------------------
function start() {
  setColours();
  $("lang").addEventListener("change", (event) => {
    lang = event.target.value === "en" ? "en" : "ko";
    safeSet(LANG_KEY, lang);
    applyLanguage();
  });
  for (const input of document.querySelectorAll('input[name="layer"]')) {
    input.addEventListener("change", () => {
      if (input.checked && LAYERS.includes(input.value)) {
        layer = input.value;
        render();
      }
    });
  }
  applyLanguage();
  load();
  setInterval(load, REFRESH_MS);
}

start();
