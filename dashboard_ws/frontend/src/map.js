// The map (Leaflet): every district an SVG path (focusable, `data-district` and `data-grade`,
// filled by CSS from its grade), its name as a label, a scale bar, no base map unless the
// gateway configures one, cluster outlines, a heat layer of H3 cells on a canvas and, for
// analysts, incident markers on another canvas. Data updates change attributes only: zoom, pan,
// focus and selection stay as they are.
import * as L from "leaflet";
import { el, restartClass } from "./dom.js";
import { heatColour } from "./grades.js";

const FLASH_MS = 900; // two pulses of 400 ms (CSS): 2.5 a second at most
const ALERT_FLASH_MS = 2500; // three pulses of 800 ms

export class DistrictMap {
  /**
   * @param {HTMLElement} container
   * @param {{onSelect: (code: string|null) => void, interactive?: boolean}} options
   */
  constructor(container, { onSelect, interactive = true, idAttribute = "data-district" }) {
    this.container = container;
    this.onSelect = onSelect;
    this.interactive = interactive;
    this.idAttribute = idAttribute;
    this.map = null;
    this.paths = new Map(); // code -> {layer, path, label, feature}
    this.order = []; // codes in keyboard order (by name)
    this.selected = null;
    this.timers = new Map();
    this.clusterLayer = null;
    this.heatLayer = null;
    this.markerLayer = null;
    this.baseLayer = null;
    this.legendControl = null;
  }

  /** Draw the city (GET /api/city): once; later calls only rename. */
  setCity(city, { lang, labelOf }) {
    this.city = city;
    if (this.map) {
      this.rename(lang, labelOf);
      return;
    }
    this.map = L.map(this.container, {
      zoomSnap: 0.25,
      zoomControl: true,
      attributionControl: true,
      keyboard: true,
      preferCanvas: false,
      minZoom: 8,
      maxZoom: 18,
    });
    this.map.attributionControl.setPrefix(false);
    L.control.scale({ metric: true, imperial: false, position: "bottomleft" }).addTo(this.map);
    // The heat canvas lies over the districts and lets every pointer event through to them.
    this.map.createPane("heat").classList.add("pane-heat");
    this.svgRenderer = L.svg({ padding: 0.5 });
    const [west, south, east, north] = city.bounds || [];
    const features = (city.districts && city.districts.features) || [];
    const layer = L.geoJSON(city.districts, {
      renderer: this.svgRenderer,
      style: () => ({ className: "district", weight: 1.5, fillOpacity: 0.72, opacity: 1 }),
      interactive: this.interactive,
      bubblingMouseEvents: false,
    });
    layer.addTo(this.map);
    const bounds =
      west !== undefined
        ? L.latLngBounds([south, west], [north, east])
        : features.length
          ? layer.getBounds()
          : null;
    if (bounds && bounds.isValid()) this.map.fitBounds(bounds, { padding: [12, 12] });
    else this.map.setView([37.6, 126.7], 11);
    layer.eachLayer((sub) => this.addDistrict(sub, lang, labelOf));
    this.districtLayer = layer;
    this.order = [...this.paths.keys()].sort((a, b) =>
      this.paths.get(a).name.localeCompare(this.paths.get(b).name, lang),
    );
    this.map.on("zoomend moveend resize", () => this.declutter());
    this.declutter();
    this.legendControl = L.control({ position: "bottomright" });
    this.legendControl.onAdd = () => {
      const box = el("div", "legend leaflet-control");
      L.DomEvent.disableClickPropagation(box);
      this.legendBox = box;
      return box;
    };
    this.legendControl.addTo(this.map);
  }

  addDistrict(sub, lang, labelOf) {
    const props = sub.feature.properties || {};
    const code = String(props.code || sub.feature.id);
    const path = sub.getElement();
    if (!path) return;
    path.setAttribute(this.idAttribute, code);
    path.setAttribute("data-grade", "");
    const label = el("span", "label-name");
    const value = el("span", "label-value");
    const box = el("span", "label-box", label, value);
    box.setAttribute("aria-hidden", "true");
    sub.bindTooltip(box, {
      permanent: true,
      direction: "center",
      className: "district-label",
      interactive: false,
      opacity: 1,
    });
    // The label is what the eye reads; the path's own name (aria-label) is what a screen
    // reader says: the label is no ARIA tooltip and describes nothing.
    const tip = sub.getTooltip() && sub.getTooltip().getElement();
    if (tip) {
      tip.removeAttribute("role");
      tip.setAttribute("aria-hidden", "true");
    }
    path.removeAttribute("aria-describedby");
    const entry = { layer: sub, path, label, value, props, name: labelOf(props, lang) };
    label.textContent = entry.name;
    this.paths.set(code, entry);
    if (!this.interactive) {
      path.setAttribute("aria-hidden", "true");
      return;
    }
    path.setAttribute("tabindex", "0");
    path.setAttribute("role", "button");
    path.setAttribute("aria-label", entry.name);
    sub.on("click", () => this.onSelect(code));
    path.addEventListener("keydown", (event) => this.onKey(event, code));
  }

  onKey(event, code) {
    const i = this.order.indexOf(code);
    let next;
    switch (event.key) {
      case "Enter":
      case " ":
        event.preventDefault();
        this.onSelect(code);
        return;
      case "Escape":
        this.onSelect(null);
        return;
      case "ArrowRight":
      case "ArrowDown":
        next = this.order[(i + 1) % this.order.length];
        break;
      case "ArrowLeft":
      case "ArrowUp":
        next = this.order[(i - 1 + this.order.length) % this.order.length];
        break;
      case "Home":
        next = this.order[0];
        break;
      case "End":
        next = this.order[this.order.length - 1];
        break;
      default:
        return;
    }
    event.preventDefault();
    event.stopPropagation(); // Leaflet's keyboard panning must not move the map as well
    this.focus(next);
  }

  focus(code) {
    const entry = this.paths.get(code);
    if (entry) entry.path.focus({ preventScroll: true });
  }

  /**
   * Hide the labels that would overlap a more important one (the selected district, then the
   * higher grade, then the larger district): at the city's zoom small central districts crowd.
   * A hidden label's district still says its name and value to screen readers (aria-label).
   */
  declutter() {
    if (this.declutterFrame) return;
    this.declutterFrame = requestAnimationFrame(() => {
      this.declutterFrame = null;
      const entries = [...this.paths.entries()].map(([code, entry]) => {
        const tip = entry.layer.getTooltip() && entry.layer.getTooltip().getElement();
        const bounds = entry.layer.getBounds();
        const area = Math.abs((bounds.getEast() - bounds.getWest()) * (bounds.getNorth() - bounds.getSouth()));
        const grade = Number(entry.path.getAttribute("data-grade") || 0);
        return { code, tip, rank: [code === this.selected ? 1 : 0, grade, area] };
      });
      entries.sort((a, b) => b.rank[0] - a.rank[0] || b.rank[1] - a.rank[1] || b.rank[2] - a.rank[2]);
      const kept = [];
      for (const { tip } of entries) {
        if (!tip) continue;
        tip.classList.remove("label-hidden");
        const r = tip.getBoundingClientRect();
        const overlaps = kept.some((k) => r.left < k.right && r.right > k.left && r.top < k.bottom && r.bottom > k.top);
        if (overlaps) tip.classList.add("label-hidden");
        else kept.push(r);
      }
    });
  }

  rename(lang, labelOf) {
    for (const entry of this.paths.values()) {
      entry.name = labelOf(entry.props, lang);
      entry.label.textContent = entry.name;
    }
    this.order.sort((a, b) => this.paths.get(a).name.localeCompare(this.paths.get(b).name, lang));
    this.declutter();
  }

  /** A district's grade (1-5, or null: no data), its label value and its spoken name. */
  setDistrict(code, { grade, valueText, ariaLabel, title }) {
    const entry = this.paths.get(code);
    if (!entry) return;
    const g = grade === null || grade === undefined ? "" : String(grade);
    if (entry.path.getAttribute("data-grade") !== g) {
      entry.path.setAttribute("data-grade", g);
      this.declutter();
    }
    entry.value.textContent = valueText;
    if (this.interactive && ariaLabel) entry.path.setAttribute("aria-label", ariaLabel);
    if (title !== undefined) {
      let t = entry.path.querySelector("title");
      if (!t) {
        t = document.createElementNS("http://www.w3.org/2000/svg", "title");
        entry.path.append(t);
      }
      t.textContent = title;
    }
  }

  /** The statistics map's class (0 = none .. 5) of a district, and its label value. */
  setClass(code, cls, valueText) {
    const entry = this.paths.get(code);
    if (!entry) return;
    entry.path.setAttribute("data-class", String(cls));
    entry.value.textContent = valueText;
  }

  codes() {
    return [...this.paths.keys()];
  }

  nameOf(code) {
    const entry = this.paths.get(code);
    return entry ? entry.name : code;
  }

  select(code) {
    if (this.selected && this.paths.has(this.selected)) {
      const old = this.paths.get(this.selected);
      old.path.classList.remove("selected");
      old.path.removeAttribute("aria-pressed");
    }
    this.selected = code;
    const entry = code ? this.paths.get(code) : null;
    if (entry) {
      entry.path.classList.add("selected");
      entry.path.setAttribute("aria-pressed", "true");
      entry.layer.bringToFront();
      if (this.clusterLayer) this.clusterLayer.bringToFront();
    }
    this.declutter();
  }

  /** A brief flash of a district that just changed (the caller limits how often). */
  flash(code, cls = "flash", ms = FLASH_MS) {
    const entry = this.paths.get(code);
    if (!entry) return;
    restartClass(entry.path, cls);
    const key = code + "/" + cls;
    clearTimeout(this.timers.get(key));
    this.timers.set(
      key,
      setTimeout(() => entry.path.classList.remove(cls), ms),
    );
  }

  alertFlash(code) {
    this.flash(code, "alerting", ALERT_FLASH_MS);
  }

  /** Outlines around the districts of each cluster of alerts: {cluster: [codes]}. */
  setClusters(clusters) {
    if (!this.map) return;
    if (this.clusterLayer) this.clusterLayer.remove();
    this.clusterLayer = null;
    const features = [];
    for (const [cluster, codes] of Object.entries(clusters)) {
      for (const code of codes) {
        const entry = this.paths.get(code);
        if (entry) features.push({ ...entry.layer.feature, properties: { ...entry.props, cluster } });
      }
    }
    for (const entry of this.paths.values()) entry.path.classList.remove("in-cluster");
    if (!features.length) return;
    for (const f of features) {
      const entry = this.paths.get(String(f.properties.code));
      if (entry) entry.path.classList.add("in-cluster");
    }
    this.clusterLayer = L.geoJSON(
      { type: "FeatureCollection", features },
      {
        renderer: this.svgRenderer, // one SVG: nothing lies over the districts' paths
        interactive: false,
        style: () => ({ className: "cluster-outline", fill: false, weight: 4 }),
      },
    ).addTo(this.map);
  }

  /** The legend: an element built by the caller. */
  setLegend(content) {
    if (this.legendBox) this.legendBox.replaceChildren(content);
  }

  /** The heat layer: [{ring: [[lat, lng]...], level 0..1}] on a canvas; null removes it. */
  setHeat(cells) {
    if (!this.map) return;
    if (this.heatLayer) this.heatLayer.remove();
    this.heatLayer = null;
    if (!cells) return;
    const renderer = L.canvas({ pane: "heat", padding: 0.5 });
    const group = L.layerGroup();
    for (const cell of cells) {
      L.polygon(cell.ring, {
        renderer,
        pane: "heat",
        interactive: false,
        stroke: true,
        weight: 2, // the smallest cells stay visible at the city's zoom
        color: heatColour(cell.level),
        opacity: 0.5,
        fillColor: heatColour(cell.level),
        fillOpacity: 0.2 + 0.55 * cell.level,
      }).addTo(group);
    }
    this.heatLayer = group.addTo(this.map);
  }

  /** Incident markers (analysts): [{lat, lon, severity, title}]; null removes them. */
  setMarkers(markers) {
    if (!this.map) return;
    if (this.markerLayer) this.markerLayer.remove();
    this.markerLayer = null;
    if (!markers) return;
    const group = L.layerGroup();
    for (const m of markers) {
      L.circleMarker([m.lat, m.lon], {
        renderer: this.svgRenderer,
        className: "incident-marker",
        radius: 3 + Number(m.severity || 1),
        weight: 1.5,
        fillOpacity: 0.9,
        bubblingMouseEvents: false,
      })
        .bindTooltip(el("span", null, m.title)) // an element: never HTML from data
        .addTo(group);
    }
    this.markerLayer = group.addTo(this.map);
  }

  /** The configured raster base map (XYZ or WMS) on or off. */
  setBaseMap(config, on) {
    if (!this.map) return;
    if (!on || !config) {
      if (this.baseLayer) this.baseLayer.remove();
      this.baseLayer = null;
      return;
    }
    if (this.baseLayer) return;
    const options = { attribution: config.attribution || "", maxZoom: 19, crossOrigin: false };
    this.baseLayer =
      config.kind === "wms"
        ? L.tileLayer.wms(config.url, {
            ...options,
            layers: config.layers || "",
            format: "image/png",
            transparent: false,
          })
        : L.tileLayer(config.url, options);
    this.baseLayer.addTo(this.map);
  }

  invalidate() {
    if (this.map) this.map.invalidateSize();
  }
}
