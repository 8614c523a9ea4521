// Civil complaints (민원): a heat layer of H3 cells on the live map (GET /api/complaints/cells;
// h3-js is loaded lazily, as for the incident heat) and a statistics map of complaints per
// district by category and period (GET /api/complaints/stats) with a table and the same numbers
// as CSV (format=csv). Counts only: the API never sends a complaint's text or place.
import * as L from "leaflet";
import { getJSON, query } from "./api.js";
import { el, setOptions, $ } from "./dom.js";
import { dateTime, fixed, integer, rfc3339 } from "./format.js";
import { classBreaks, classColour, classOf, classRanges } from "./grades.js";
import { DistrictMap } from "./map.js";
import { COMPLAINT_CATEGORIES, cellLevels, complaintColour, complaintValue } from "./complaints-data.js";

const DAY_MS = 24 * 3600 * 1000;
export const HEAT_DAYS = 30;
const REFRESH_MS = 60_000;
/** The complaints heat layer on the live map, toggled by #complaints-heat. */
export class ComplaintsHeat {
  constructor(ctx, mapOf) {
    this.ctx = ctx;
    this.mapOf = mapOf; // () => the live DistrictMap (or null before the city is drawn)
    this.layer = null;
    this.timer = null;
    this.request = 0;
    $("complaints-heat").addEventListener("change", () => this.load());
  }

  clear(note) {
    if (this.layer) this.layer.remove();
    this.layer = null;
    const box = $("complaints-heat-note");
    box.textContent = note || "";
    box.dataset.cells = "0";
  }

  async load() {
    clearTimeout(this.timer);
    const request = ++this.request;
    const districtMap = this.mapOf();
    if (!$("complaints-heat").checked || !districtMap || !districtMap.map) {
      this.clear("");
      return;
    }
    const to = new Date();
    const from = new Date(to.getTime() - HEAT_DAYS * DAY_MS);
    let answer;
    let h3;
    try {
      [answer, h3] = await Promise.all([
        getJSON("/api/complaints/cells", { from: rfc3339(from), to: rfc3339(to) }),
        import("h3-js"), // the same lazily loaded chunk as the incident heat
      ]);
    } catch (err) {
      answer = { status: 0, detail: String(err) };
    }
    if (request !== this.request || !$("complaints-heat").checked) return;
    if (answer.status !== 200) {
      this.clear(this.ctx.t("complaints.unavailable", { detail: answer.detail }));
      return;
    }
    this.clear("");
    const renderer = L.canvas({ pane: "heat", padding: 0.5 });
    const group = L.layerGroup();
    let drawn = 0;
    for (const cell of cellLevels(answer.body.cells || [])) {
      let ring;
      try {
        ring = h3.cellToBoundary(cell.h3);
      } catch {
        continue; // not a cell
      }
      L.polygon(ring, {
        renderer,
        pane: "heat",
        interactive: false,
        weight: 2,
        color: complaintColour(cell.level),
        opacity: 0.6,
        fillColor: complaintColour(cell.level),
        fillOpacity: 0.2 + 0.55 * cell.level,
      }).addTo(group);
      drawn += 1;
    }
    this.layer = group.addTo(districtMap.map);
    const box = $("complaints-heat-note");
    box.dataset.cells = String(drawn); // test hook
    box.textContent = drawn
      ? this.ctx.t("complaints.heat.legend", { days: HEAT_DAYS, res: answer.body.resolution })
      : this.ctx.t("complaints.heat.none", { days: HEAT_DAYS });
    this.timer = setTimeout(() => this.load(), REFRESH_MS);
  }
}

/** The complaints statistics map: a choropleth per district, its table and the CSV link. */
export class ComplaintsView {
  constructor(ctx) {
    this.ctx = ctx;
    this.map = null;
    this.answer = null;
    this.generation = 0;
    for (const id of ["complaints-period", "complaints-category", "complaints-measure"]) {
      $(id).addEventListener("change", () => (id === "complaints-measure" ? this.draw() : this.load()));
    }
  }

  categoryName(c) {
    return this.ctx.tOr("complaint.category." + c, c);
  }

  relabel() {
    const ctx = this.ctx;
    setOptions($("complaints-period"), [7, 30, 90, 365].map((d) => [String(d), ctx.t("complaints.period." + d)]), $("complaints-period").value || "30");
    setOptions($("complaints-category"), [["", ctx.t("complaints.category.all")], ...COMPLAINT_CATEGORIES.map((c) => [c, this.categoryName(c)])]);
    const measure = $("complaints-measure").value;
    setOptions(
      $("complaints-measure"),
      ["total", "open", "per_10k"].map((m) => [m, ctx.t("complaints.measure." + m)]),
      ["total", "open", "per_10k"].includes(measure) ? measure : "total",
    );
    if (this.map) this.map.rename(ctx.lang(), ctx.labelOf);
    if (this.answer) this.draw();
  }

  params() {
    const days = Number($("complaints-period").value || 30);
    const to = new Date();
    const from = new Date(to.getTime() - days * DAY_MS);
    return { from: rfc3339(from), to: rfc3339(to), category: $("complaints-category").value || null };
  }

  /** The view became visible: draw the map (Leaflet needs a visible container) and load. */
  shown() {
    const city = this.ctx.city();
    if (!this.map && city) {
      this.map = new DistrictMap($("complaints-map"), { onSelect: () => {}, interactive: false, idAttribute: "data-complaints-district" });
      this.map.setCity(city, { lang: this.ctx.lang(), labelOf: this.ctx.labelOf });
    }
    if (this.map) this.map.invalidate();
    this.load();
  }

  async load() {
    const ctx = this.ctx;
    const mine = ++this.generation;
    const params = this.params();
    $("complaints-export").href = query("/api/complaints/stats", { ...params, format: "csv" });
    $("complaints-export").setAttribute("download", "riskmon-complaints-" + params.from.slice(0, 10) + "-" + params.to.slice(0, 10) + (params.category ? "-" + params.category : "") + ".csv");
    $("complaints-error").hidden = true;
    $("complaints-range").textContent = ctx.t("stats.loading");
    let answer;
    try {
      answer = await getJSON("/api/complaints/stats", params);
    } catch (err) {
      answer = { status: 0, detail: String(err) };
    }
    if (mine !== this.generation) return;
    if (answer.status !== 200) {
      $("complaints-error").textContent = ctx.t("complaints.unavailable", { detail: answer.detail });
      $("complaints-error").hidden = false;
      $("complaints-range").textContent = "";
      return;
    }
    this.answer = answer.body;
    this.draw();
  }

  draw() {
    const ctx = this.ctx;
    const answer = this.answer;
    if (!answer) return;
    const category = answer.category;
    let measure = $("complaints-measure").value || "total";
    if (measure === "open" && category) measure = "total"; // open counts are per district only
    $("complaints-range").textContent = ctx.t("stats.range", {
      from: dateTime(answer.start, ctx.tz(), { seconds: false }),
      to: dateTime(answer.end, ctx.tz(), { seconds: false }),
    });
    const rows = [...answer.districts];
    const values = rows.map((r) => complaintValue(r, measure, category));
    const integers = measure !== "per_10k";
    const breaks = classBreaks(values, 5, { integers });
    const colour = (v) => classColour(classOf(v, breaks), breaks.length);
    const text = (v) => (integers ? integer(v, ctx.lang()) : fixed(v, 2));
    if (this.map) {
      rows.forEach((r, i) => this.map.setClass(r.district, colour(values[i]), text(values[i])));
      this.map.setLegend(this.legend(classRanges(breaks, { integers }), text, measure));
    }
    const categories = category ? [category] : answer.categories;
    const head = el("tr");
    const cols = [ctx.t("table.district"), ctx.t("stats.population"), ctx.t("complaints.measure.total"), ctx.t("complaints.measure.open"), ctx.t("stats.per_10k"), ...categories.map((c) => this.categoryName(c))];
    cols.forEach((c, i) => {
      const th = el("th", i === 0 ? null : "num", c);
      th.setAttribute("scope", "col");
      head.append(th);
    });
    $("complaints-head").replaceChildren(head);
    const order = rows
      .map((r, i) => [r, values[i]])
      .sort((a, b) => b[1] - a[1] || a[0].district.localeCompare(b[0].district));
    $("complaints-rows").replaceChildren(
      ...order.map(([r, v]) => {
        const th = el("th", null, el("span", "class-dot", ""), ctx.nameOf(r.district) || r.name);
        th.firstChild.dataset.class = String(colour(v));
        th.setAttribute("scope", "row");
        const count = complaintValue(r, "total", category);
        const tr = el(
          "tr",
          null,
          th,
          el("td", "num", integer(r.population, ctx.lang())),
          el("td", "num", integer(count, ctx.lang())),
          el("td", "num", category ? "–" : integer(r.open, ctx.lang())),
          el("td", "num", fixed(complaintValue(r, "per_10k", category), 2)),
          ...categories.map((c) => el("td", "num", integer((r.by_category || {})[c] || 0, ctx.lang()))),
        );
        tr.dataset.district = r.district; // test hooks
        tr.dataset.total = String(count);
        return tr;
      }),
    );
  }

  legend(ranges, text, measure) {
    const box = el("div", "legend-body");
    box.append(el("div", "legend-title", this.ctx.t("complaints.measure." + measure)));
    const list = el("ul", "legend-list");
    const zero = el("li", null, el("span", "swatch class-dot", ""), " 0");
    zero.firstChild.dataset.class = "0";
    list.append(zero);
    ranges.forEach(([lo, hi], i) => {
      const label = text(lo) === text(hi) ? text(hi) : text(lo) + "–" + text(hi);
      const li = el("li", null, el("span", "swatch class-dot", ""), " " + label);
      li.firstChild.dataset.class = String(classColour(i + 1, ranges.length));
      list.append(li);
    });
    box.append(list);
    return box;
  }
}
