// The statistics map (통계지도): incidents per district by type and period (GET /api/stats) as a
// choropleth of its own (paths carry data-stats-district and data-class, never data-district)
// with a table, and the same numbers as CSV (the gateway's format=csv).
import { getJSON, query } from "./api.js";
import { el, setOptions, $ } from "./dom.js";
import { dateTime, fixed, integer, rfc3339 } from "./format.js";
import { classBreaks, classColour, classOf, classRanges } from "./grades.js";
import { DistrictMap } from "./map.js";
import { typeName } from "./panel.js";

const DAY_MS = 24 * 3600 * 1000;
export const INCIDENT_TYPES = [
  "fire", "explosion", "gas_leak", "electrical", "building_collapse", "sinkhole",
  "water_main_break", "fall", "drowning", "traffic_accident", "flood", "landslide",
  "storm_damage", "heat_illness", "assault", "burglary", "theft", "robbery",
];

/** The choropleth's value of a district row for `measure` ("total" or "per_10k"). */
export function statValue(row, measure, type) {
  if (measure === "per_10k") {
    if (!type) return row.per_10k;
    const count = (row.by_type || {})[type] || 0;
    return row.population > 0 ? Math.round((count * 10000 * 1000) / row.population) / 1000 : 0;
  }
  return type ? (row.by_type || {})[type] || 0 : row.total;
}

export class StatsView {
  constructor(ctx) {
    this.ctx = ctx;
    this.map = null;
    this.answer = null;
    this.loaded = false;
    this.generation = 0;
    for (const id of ["stats-period", "stats-type", "stats-measure"]) {
      $(id).addEventListener("change", () => (id === "stats-measure" ? this.draw() : this.load()));
    }
  }

  relabel() {
    const ctx = this.ctx;
    setOptions($("stats-period"), [1, 7, 30, 90].map((d) => [String(d), ctx.t("stats.period." + d)]), $("stats-period").value || "30");
    setOptions($("stats-type"), [["", ctx.t("stats.type.all")], ...INCIDENT_TYPES.map((x) => [x, typeName(ctx, x)])]);
    // incidents per 10k residents by default (the statistics map's measure); totals on request
    setOptions($("stats-measure"), [["per_10k", ctx.t("stats.measure.per_10k")], ["total", ctx.t("stats.measure.total")]], $("stats-measure").value === "total" ? "total" : "per_10k");
    if (this.map) this.map.rename(ctx.lang(), ctx.labelOf);
    if (this.answer) this.draw();
  }

  params() {
    const days = Number($("stats-period").value || 30);
    const to = new Date();
    const from = new Date(to.getTime() - days * DAY_MS);
    return { from: rfc3339(from), to: rfc3339(to), type: $("stats-type").value || null };
  }

  /** The view became visible: draw the map (Leaflet needs a visible container) and load. */
  shown() {
    const city = this.ctx.city();
    if (!this.map && city) {
      this.map = new DistrictMap($("stats-map"), { onSelect: () => {}, interactive: false, idAttribute: "data-stats-district" });
      this.map.setCity(city, { lang: this.ctx.lang(), labelOf: this.ctx.labelOf });
    }
    if (this.map) this.map.invalidate();
    this.load();
  }

  async load() {
    const ctx = this.ctx;
    const mine = ++this.generation;
    const params = this.params();
    $("stats-export").href = query("/api/stats", { ...params, format: "csv" });
    $("stats-export").setAttribute("download", "riskmon-stats-" + params.from.slice(0, 10) + "-" + params.to.slice(0, 10) + (params.type ? "-" + params.type : "") + ".csv");
    $("stats-error").hidden = true;
    $("stats-range").textContent = ctx.t("stats.loading");
    let answer;
    try {
      answer = await getJSON("/api/stats", params);
    } catch (err) {
      answer = { status: 0, detail: String(err) };
    }
    if (mine !== this.generation) return;
    if (answer.status !== 200) {
      $("stats-error").textContent = ctx.t("stats.error", { detail: answer.detail });
      $("stats-error").hidden = false;
      $("stats-range").textContent = "";
      return;
    }
    this.answer = answer.body;
    this.type = params.type;
    this.draw();
  }

  draw() {
    const ctx = this.ctx;
    const answer = this.answer;
    if (!answer) return;
    const measure = $("stats-measure").value || "per_10k";
    const type = this.type;
    const tz = ctx.tz();
    $("stats-range").textContent = ctx.t("stats.range", {
      from: dateTime(answer.start, tz, { seconds: false }),
      to: dateTime(answer.end, tz, { seconds: false }),
    });
    const rows = [...answer.districts];
    const values = rows.map((r) => statValue(r, measure, type));
    const integers = measure !== "per_10k";
    const breaks = classBreaks(values, 5, { integers });
    const colour = (v) => classColour(classOf(v, breaks), breaks.length);
    const text = (v) => (integers ? integer(v, ctx.lang()) : fixed(v, 2));
    if (this.map) {
      rows.forEach((r, i) => this.map.setClass(r.district, colour(values[i]), text(values[i])));
      this.map.setLegend(this.legend(classRanges(breaks, { integers }), text));
    }
    // the table: district, population, total, per 10k, then a column per type
    const types = type ? [type] : answer.types;
    const head = el("tr");
    const cols = [ctx.t("table.district"), ctx.t("stats.population"), ctx.t("stats.total"), ctx.t("stats.per_10k"), ...types.map((x) => typeName(ctx, x))];
    cols.forEach((c, i) => {
      const th = el("th", i === 0 ? null : "num", c);
      th.setAttribute("scope", "col");
      head.append(th);
    });
    $("stats-head").replaceChildren(head);
    const order = rows
      .map((r, i) => [r, values[i]])
      .sort((a, b) => b[1] - a[1] || a[0].district.localeCompare(b[0].district));
    $("stats-rows").replaceChildren(
      ...order.map(([r, v]) => {
        const th = el("th", null, el("span", "class-dot", ""), ctx.nameOf(r.district) || r.name);
        th.firstChild.dataset.class = String(colour(v));
        th.setAttribute("scope", "row");
        const tr = el(
          "tr",
          null,
          th,
          el("td", "num", integer(r.population, ctx.lang())),
          el("td", "num", integer(type ? (r.by_type || {})[type] || 0 : r.total, ctx.lang())),
          el("td", "num", fixed(type ? statValue(r, "per_10k", type) : r.per_10k, 2)),
          ...types.map((x) => el("td", "num", integer((r.by_type || {})[x] || 0, ctx.lang()))),
        );
        tr.dataset.district = r.district; // test hook (#stats-rows tr[data-district])
        tr.dataset.statsDistrict = r.district;
        return tr;
      }),
    );
  }

  legend(ranges, text) {
    const ctx = this.ctx;
    const box = el("div", "legend-body");
    box.append(el("div", "legend-title", ctx.t($("stats-measure").value === "per_10k" ? "stats.measure.per_10k" : "stats.measure.total")));
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

