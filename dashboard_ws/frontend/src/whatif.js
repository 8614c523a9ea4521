// The "What if" view (policy map, analysts and admins): pick a facility kind and a count, see the
// index model's predicted change in every district (GET /api/whatif) as a table ranked by risk
// reduction (or safety gain) per item and a choropleth of that reduction, with the same numbers
// as CSV. The tab is shown only to callers whose rights (GET /auth/me) include whatif.read; the
// gateway refuses everyone else (403) anyway.
import { getJSON, query } from "./api.js";
import { el, setOptions, $ } from "./dom.js";
import { dateTime, fixed } from "./format.js";
import { classBreaks, classColour, classOf, classRanges } from "./grades.js";
import { DistrictMap } from "./map.js";
import { chip } from "./panel.js";
import {
  RIGHT_WHATIF, WHATIF_FACILITIES, WHATIF_GROUPS, WHATIF_MAX_COUNT, changeText, mapValue, rankedRows,
  whatifParams,
} from "./whatif-data.js";

export { RIGHT_WHATIF };

export class WhatIfView {
  constructor(ctx) {
    this.ctx = ctx;
    this.map = null;
    this.answer = null;
    this.generation = 0;
    $("whatif-count").max = String(WHATIF_MAX_COUNT);
    $("whatif-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.load();
    });
    for (const id of ["whatif-change", "whatif-by"]) $(id).addEventListener("change", () => this.load());
  }

  facilityName(kind) {
    return this.ctx.tOr("whatif.facility." + kind, kind);
  }

  relabel() {
    const ctx = this.ctx;
    setOptions($("whatif-change"), WHATIF_FACILITIES.map((k) => [k, this.facilityName(k)]), $("whatif-change").value || "cctv");
    setOptions($("whatif-by"), [["risk", ctx.t("whatif.by.risk")], ["safety", ctx.t("whatif.by.safety")]], $("whatif-by").value || "risk");
    if (this.map) this.map.rename(ctx.lang(), ctx.labelOf);
    if (this.answer) this.draw();
  }

  /** The view became visible: draw the map (Leaflet needs a visible container) and load. */
  shown() {
    const city = this.ctx.city();
    if (!this.map && city) {
      this.map = new DistrictMap($("whatif-map"), { onSelect: () => {}, interactive: false, idAttribute: "data-whatif-district" });
      this.map.setCity(city, { lang: this.ctx.lang(), labelOf: this.ctx.labelOf });
    }
    if (this.map) this.map.invalidate();
    this.load();
  }

  fail(text) {
    $("whatif-error").textContent = text;
    $("whatif-error").hidden = false;
    $("whatif-basis").textContent = "";
  }

  async load() {
    const ctx = this.ctx;
    if (!ctx.may(RIGHT_WHATIF)) return;
    const mine = ++this.generation;
    const params = whatifParams({ change: $("whatif-change").value, count: $("whatif-count").value, by: $("whatif-by").value });
    if (!params) {
      this.fail(ctx.t("whatif.count_invalid", { max: WHATIF_MAX_COUNT }));
      return;
    }
    $("whatif-export").href = query("/api/whatif", { ...params, format: "csv" });
    $("whatif-export").setAttribute("download", "riskmon-whatif-" + params.change + "-" + params.count + ".csv");
    $("whatif-error").hidden = true;
    $("whatif-basis").textContent = ctx.t("stats.loading");
    let answer;
    try {
      answer = await getJSON("/api/whatif", params);
    } catch (err) {
      answer = { status: 0, detail: String(err) };
    }
    if (mine !== this.generation) return;
    if (answer.status !== 200) {
      this.fail(ctx.t("whatif.error", { detail: answer.detail }));
      return;
    }
    this.answer = answer.body;
    this.draw();
  }

  draw() {
    const ctx = this.ctx;
    const answer = this.answer;
    if (!answer) return;
    const by = answer.ranked_by;
    const basis = answer.basis.source === "checkpoints"
      ? ctx.t("whatif.basis.checkpoints", { saved: answer.basis.saved_at ? dateTime(answer.basis.saved_at, ctx.tz()) : "—" })
      : answer.basis.detail;
    $("whatif-basis").textContent = ctx.t("whatif.basis", {
      what: ctx.t("whatif.adding", { count: answer.count, kind: this.facilityName(answer.change) }),
      at: dateTime(answer.at, ctx.tz()),
      model: answer.model_version,
      basis,
    });
    const rows = rankedRows(answer);
    const values = rows.map((r) => Math.max(0, mapValue(r, by)));
    const breaks = classBreaks(values, 5);
    const colour = (v) => classColour(classOf(v, breaks), breaks.length);
    if (this.map) {
      rows.forEach((r, i) => this.map.setClass(r.district, colour(values[i]), changeText(values[i])));
      this.map.setLegend(this.legend(classRanges(breaks), by));
    }
    const head = el("tr");
    const cols = [
      "#", ctx.t("table.district"), ctx.t("whatif.col.risk"), ctx.t("whatif.col.risk_per_item"),
      ctx.t("whatif.col.safety"), ctx.t("whatif.col.safety_per_item"), ...WHATIF_GROUPS.map((g) => ctx.tOr("group." + g, g)),
    ];
    cols.forEach((c, i) => {
      const th = el("th", i === 1 ? null : "num", c);
      th.setAttribute("scope", "col");
      head.append(th);
    });
    $("whatif-head").replaceChildren(head);
    $("whatif-rows").replaceChildren(
      ...rows.map((r, i) => {
        const name = el("th", null, el("span", "class-dot", ""), ctx.nameOf(r.district) || r.name);
        name.firstChild.dataset.class = String(colour(values[i]));
        name.setAttribute("scope", "row");
        const c = r.composite;
        const risk = el("td", "num", fixed(c.before, 3) + " → " + fixed(c.after, 3) + " ", chip(ctx, c.grade_after));
        const tr = el(
          "tr",
          null,
          el("td", "num", String(r.rank)),
          name,
          risk,
          el("td", "num", changeText(r.risk_reduction_per_item)),
          el("td", "num", fixed(r.safety.before, 3) + " → " + fixed(r.safety.after, 3)),
          el("td", "num", changeText(r.safety_gain_per_item, { sign: true })),
          ...WHATIF_GROUPS.map((g) => el("td", "num", r.groups[g] ? changeText(r.groups[g].change) : "—")),
        );
        tr.dataset.district = r.district; // test hooks
        tr.dataset.rank = String(r.rank);
        return tr;
      }),
    );
  }

  legend(ranges, by) {
    const box = el("div", "legend-body");
    box.append(el("div", "legend-title", this.ctx.t(by === "safety" ? "whatif.col.safety_per_item" : "whatif.col.risk_per_item")));
    const list = el("ul", "legend-list");
    const zero = el("li", null, el("span", "swatch class-dot", ""), " 0");
    zero.firstChild.dataset.class = "0";
    list.append(zero);
    ranges.forEach(([lo, hi], i) => {
      const li = el("li", null, el("span", "swatch class-dot", ""), " " + changeText(lo) + "–" + changeText(hi));
      li.firstChild.dataset.class = String(classColour(i + 1, ranges.length));
      list.append(li);
    });
    box.append(list);
    return box;
  }
}
