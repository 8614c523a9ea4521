// The district panel ("why did it change"): composite, risk types, domains, safety,
// confidence and stale feeds; the drivers of the latest change with their contributions; the
// last 24 h of a chosen series as a sparkline (history API); the district's recent incidents
// and its alert history.
import { getJSON } from "./api.js";
import { el, svg, setOptions } from "./dom.js";
import { clock, dateTime, fixed, percent, rfc3339, shortTime, signed, integer } from "./format.js";
import { DOMAINS, GROUPS, GRADE_CUTS, layerValue, safetyGrade } from "./grades.js";
import { explaining } from "./state.js";
import { sparkline, yOfValue } from "./sparkline.js";

const DAY_MS = 24 * 3600 * 1000;
const EVENTS_SHOWN = 10;
const HISTORY_REFRESH_MS = 60_000;

/** A grade chip: the number on its colour, the words for screen readers and in a tooltip. */
export function chip(ctx, grade, { safety = false } = {}) {
  const g = grade === null || grade === undefined ? "" : String(grade);
  const node = el("span", "chip", g || "–");
  node.dataset.grade = g;
  const words = g
    ? ctx.t("grade.label", { grade: g }) + " · " + ctx.t((safety ? "safety." : "grade.") + g)
    : ctx.t("grade.none");
  node.title = words;
  const hidden = el("span", "visually-hidden", " (" + words + ")");
  return el("span", "chip-wrap", node, hidden);
}

export function domainName(ctx, domain) {
  return ctx.tOr("domain." + domain, domain);
}

export function typeName(ctx, type) {
  return ctx.tOr("type." + type, ctx.tOr("sensor." + type, type));
}

export class DistrictPanel {
  constructor(root, ctx, { onClose }) {
    this.root = root;
    this.ctx = ctx;
    this.onClose = onClose;
    this.code = null;
    this.series = "composite";
    this.historyTimer = null;
    this.eventsTimer = null;
    this.generation = 0;
    this.build();
  }

  build() {
    this.title = el("h2", null);
    this.title.id = "panel-title";
    this.closeButton = el("button", "icon-button", "×");
    this.closeButton.type = "button";
    this.closeButton.id = "panel-close";
    this.closeButton.addEventListener("click", () => this.onClose());
    this.head = el("div", "panel-head", this.title, this.closeButton);
    this.core = el("div", "panel-core");
    this.driversBox = el("div", "panel-drivers");
    this.seriesSelect = el("select");
    this.seriesSelect.id = "series";
    this.seriesLabel = el("label", null);
    this.seriesLabel.htmlFor = "series";
    this.seriesSelect.addEventListener("change", () => {
      this.series = this.seriesSelect.value;
      this.loadHistory();
    });
    this.spark = svg("svg", {
      viewBox: "0 0 240 48",
      width: "100%",
      height: "60",
      preserveAspectRatio: "none",
      class: "spark",
      role: "img",
    });
    this.sparkText = el("p", "muted spark-text");
    this.historyHead = el("h3", null);
    this.historyBox = el(
      "div",
      "panel-history",
      this.historyHead,
      el("div", "field-inline", this.seriesLabel, this.seriesSelect),
      this.spark,
      this.sparkText,
    );
    this.eventsHead = el("h3", null);
    this.eventsList = el("ul", "event-list");
    this.eventsBox = el("div", "panel-events", this.eventsHead, this.eventsList);
    this.alertsHead = el("h3", null);
    this.alertsList = el("ul", "event-list");
    this.alertsBox = el("div", "panel-alerts", this.alertsHead, this.alertsList);
    this.root.replaceChildren(
      this.head,
      this.core,
      this.driversBox,
      this.historyBox,
      this.eventsBox,
      this.alertsBox,
    );
    this.root.setAttribute("aria-labelledby", "panel-title");
  }

  /** Static texts and the series options, in the page's language. */
  relabel() {
    const ctx = this.ctx;
    this.closeButton.setAttribute("aria-label", ctx.t("panel.close"));
    this.closeButton.title = ctx.t("panel.close");
    this.seriesLabel.textContent = ctx.t("panel.series");
    this.historyHead.textContent = ctx.t("panel.history");
    this.eventsHead.textContent = ctx.t("panel.events");
    this.alertsHead.textContent = ctx.t("panel.alerts");
    this.spark.setAttribute("aria-label", ctx.t("panel.history"));
    setOptions(
      this.seriesSelect,
      [
        ["composite", ctx.t("layer.composite")],
        ["safety", ctx.t("layer.safety")],
        ...Object.keys(GROUPS).map((g) => ["group:" + g, ctx.t("group." + g)]),
        ...DOMAINS.map((d) => [d, domainName(ctx, d)]),
      ],
      this.series,
    );
  }

  isOpen() {
    return this.code !== null;
  }

  open(code) {
    const changed = code !== this.code;
    this.code = code;
    this.root.hidden = false;
    this.relabel();
    this.render();
    if (changed) {
      this.generation += 1;
      this.loadAll();
    }
  }

  close() {
    this.code = null;
    this.generation += 1;
    this.root.hidden = true;
    clearInterval(this.historyTimer);
    this.historyTimer = null;
  }

  /** Reload what comes from the history API (the map time changed, or another district). */
  loadAll() {
    this.loadHistory();
    this.loadEvents();
    this.loadAlerts();
    clearInterval(this.historyTimer);
    this.historyTimer = setInterval(() => {
      if (this.code && !this.ctx.past()) this.loadHistory();
    }, HISTORY_REFRESH_MS);
  }

  /** The district changed live: redraw; new events: reload the incident list (debounced). */
  changed(update) {
    if (!this.code) return;
    this.render();
    if (update && update.reason === "events") {
      clearTimeout(this.eventsTimer);
      this.eventsTimer = setTimeout(() => this.loadEvents(), 1500);
    }
  }

  render() {
    if (!this.code) return;
    const ctx = this.ctx;
    const code = this.code;
    const props = ctx.districtProps(code) || {};
    const update = ctx.scoreOf(code);
    const name = ctx.nameOf(code);
    this.title.replaceChildren(name, " ", el("span", "muted code", code));
    const rows = [];
    if (!update) {
      this.core.replaceChildren(el("p", "muted", ctx.t("panel.nodata")));
      this.driversBox.replaceChildren();
      return;
    }
    const composite = layerValue(update, "composite", ctx.cuts());
    const safety = update.safety;
    const facts = el("dl", "facts");
    const fact = (label, ...value) => facts.append(el("dt", null, label), el("dd", null, ...value));
    fact(ctx.t("panel.composite"), el("strong", "big", fixed(composite.value)), " ", chip(ctx, composite.grade));
    fact(
      ctx.t("panel.safety"),
      fixed(safety),
      " ",
      chip(ctx, safety === null || safety === undefined ? null : safetyGrade(safety, ctx.cuts()), { safety: true }),
    );
    if (update.confidence !== undefined) {
      fact(ctx.t("panel.confidence"), el("span", update.confidence < 1 ? "warn" : "", percent(update.confidence)));
    }
    if (update.stale_feeds) {
      const stale = update.stale_feeds.length
        ? update.stale_feeds.map((k) => typeName(ctx, k)).join(", ")
        : ctx.t("panel.stale_none");
      fact(ctx.t("panel.stale"), el("span", update.stale_feeds.length ? "warn" : "", stale));
    }
    fact(ctx.t("panel.as_of"), dateTime(update.as_of, ctx.tz()));
    fact(ctx.t("panel.model"), update.model_version || "—");
    if (props.population) fact(ctx.t("panel.population"), integer(props.population, ctx.lang()));
    rows.push(facts);
    if (update.downsampled) rows.push(el("p", "muted", ctx.t("panel.downsampled")));
    rows.push(this.scoreTable(ctx.t("panel.groups"), Object.keys(GROUPS), (g) => ctx.t("group." + g), (g) => update.groups && update.groups[g], (g) => null));
    const domains = [...DOMAINS, ...Object.keys(update.domains || {}).filter((d) => !DOMAINS.includes(d))];
    rows.push(
      this.scoreTable(
        ctx.t("panel.domains"),
        domains,
        (d) => domainName(ctx, d),
        (d) => update.domains && update.domains[d],
        (d) => (update.delta && update.delta.domains ? update.delta.domains[d] : null),
      ),
    );
    this.core.replaceChildren(...rows);
    this.renderDrivers(update);
  }

  scoreTable(caption, keys, nameOf, scoreOf, deltaOf) {
    const ctx = this.ctx;
    const table = el("table", "mini");
    table.append(el("caption", null, caption));
    const head = el("tr", null, el("th", null, ""), el("th", "num", ctx.t("panel.value")), el("th", null, ctx.t("panel.grade")), el("th", "num", ctx.t("panel.change")));
    head.firstChild.setAttribute("scope", "col");
    table.append(el("thead", null, head));
    const body = el("tbody");
    for (const key of keys) {
      const score = scoreOf(key);
      if (!score) continue;
      const delta = deltaOf(key);
      const th = el("th", null, nameOf(key));
      th.setAttribute("scope", "row");
      body.append(
        el(
          "tr",
          null,
          th,
          el("td", "num", fixed(score.risk)),
          el("td", null, chip(ctx, score.grade)),
          el("td", "num " + deltaClass(delta), delta === null || delta === undefined ? "" : signed(delta)),
        ),
      );
    }
    table.append(body);
    return table;
  }

  renderDrivers(update) {
    const ctx = this.ctx;
    const box = [];
    box.push(el("h3", null, ctx.t("panel.drivers")));
    const last = ctx.lastDriversOf(this.code);
    if (last && !ctx.past()) {
      box.push(
        el(
          "p",
          "muted",
          ctx.t("panel.drivers_at", {
            time: shortTime(last.as_of, ctx.tz()),
            delta: signed(last.delta ? last.delta.composite : 0),
          }),
        ),
      );
      box.push(this.driverList(byContribution(last.drivers)));
    } else if (update.drivers && update.drivers.length) {
      box.push(el("p", "muted", clock(update.as_of, ctx.tz())));
      box.push(this.driverList(byContribution(update.drivers)));
    } else {
      box.push(el("p", "muted", ctx.t(ctx.past() ? "panel.drivers_none_past" : "panel.drivers_none")));
    }
    const now = explaining(update, 5);
    if (now.length) {
      box.push(el("h3", null, ctx.t("panel.explaining")));
      box.push(this.driverList(now));
    }
    this.driversBox.replaceChildren(...box);
  }

  driverList(drivers) {
    const ctx = this.ctx;
    const list = el("ul", "driver-list");
    for (const d of drivers) {
      list.append(
        el(
          "li",
          null,
          el("span", "driver-type", typeName(ctx, d.type)),
          " · ",
          el("span", "muted", domainName(ctx, d.domain)),
          " ",
          el("span", "num contribution", (d.contribution > 0 ? "+" : "") + fixed(d.contribution)),
          el("div", "event-id", d.event_id),
        ),
      );
    }
    return list;
  }

  /** [from, to] of the panel's 24 h: ending now live, at the map's time when travelling. */
  range() {
    const end = this.ctx.past() ? new Date(this.ctx.past()) : new Date();
    return [new Date(end.getTime() - DAY_MS), end];
  }

  async loadHistory() {
    if (!this.code) return;
    const mine = this.generation;
    const code = this.code;
    const series = this.series;
    const [from, to] = this.range();
    this.sparkText.textContent = this.ctx.t("panel.loading");
    let answer;
    try {
      answer = await getJSON(`/api/districts/${encodeURIComponent(code)}/history`, {
        domain: series,
        from: rfc3339(from),
        to: rfc3339(to),
        step: "15m", // 96 points over the 24 h
      });
    } catch (err) {
      answer = { status: 0, detail: String(err) };
    }
    if (mine !== this.generation || code !== this.code || series !== this.series) return;
    if (answer.status !== 200) {
      this.drawSpark(null);
      this.sparkText.textContent = this.ctx.t("panel.unavailable", { detail: answer.detail });
      return;
    }
    this.drawSpark(answer.body.points || [], series);
  }

  drawSpark(points, series) {
    const ctx = this.ctx;
    const shape = points ? sparkline(points) : { d: "", count: 0 };
    const children = [];
    for (const cut of GRADE_CUTS) {
      const y = yOfValue(series === "safety" ? 10 - cut : cut).toFixed(1);
      children.push(svg("line", { x1: 0, x2: 240, y1: y, y2: y, class: "spark-band" }));
    }
    if (shape.d) children.push(svg("path", { d: shape.d, class: "spark-line" }));
    this.spark.replaceChildren(...children);
    if (!points) return;
    this.sparkText.textContent = shape.count
      ? ctx.t("panel.history_range", { min: fixed(shape.min), max: fixed(shape.max), last: fixed(shape.last) })
      : ctx.t("panel.history_none");
    this.spark.setAttribute("aria-label", ctx.t("panel.history") + ": " + this.sparkText.textContent);
  }

  async loadEvents() {
    if (!this.code) return;
    const mine = this.generation;
    const ctx = this.ctx;
    const [from, to] = this.range();
    let answer;
    try {
      answer = await getJSON("/api/events", {
        district: this.code,
        kind: "incident",
        from: rfc3339(from),
        to: rfc3339(to),
        limit: 1000,
      });
    } catch (err) {
      answer = { status: 0, detail: String(err) };
    }
    if (mine !== this.generation) return;
    if (answer.status !== 200) {
      this.eventsList.replaceChildren(el("li", "muted", ctx.t("panel.unavailable", { detail: answer.detail })));
      return;
    }
    const events = (answer.body.events || []).filter((e) => e.incident).reverse().slice(0, EVENTS_SHOWN);
    if (!events.length) {
      this.eventsList.replaceChildren(el("li", "muted", ctx.t("panel.events_none")));
      return;
    }
    this.eventsList.replaceChildren(
      ...events.map((e) => {
        const i = e.incident;
        const li = el(
          "li",
          null,
          el("span", "when", shortTime(i.occurred_at, ctx.tz())),
          " ",
          el("strong", null, typeName(ctx, i.type)),
          " · ",
          ctx.t("event.severity", { n: i.severity }),
          el("div", "event-id", i.source + ":" + i.id),
        );
        if (i.description) li.append(el("div", "muted", i.description));
        return li;
      }),
    );
  }

  async loadAlerts() {
    if (!this.code) return;
    const mine = this.generation;
    const ctx = this.ctx;
    const to = this.range()[1];
    const from = new Date(to.getTime() - 7 * DAY_MS);
    let answer;
    try {
      answer = await getJSON("/api/alerts", {
        district: this.code,
        from: rfc3339(from),
        to: rfc3339(to),
        limit: 20,
      });
    } catch (err) {
      answer = { status: 0, detail: String(err) };
    }
    if (mine !== this.generation) return;
    if (answer.status !== 200) {
      this.alertsList.replaceChildren(el("li", "muted", ctx.t("panel.unavailable", { detail: answer.detail })));
      return;
    }
    const alerts = answer.body.alerts || [];
    if (!alerts.length) {
      this.alertsList.replaceChildren(el("li", "muted", ctx.t("panel.alerts_none")));
      return;
    }
    this.alertsList.replaceChildren(
      ...alerts.map((a) => {
        const li = el(
          "li",
          "sev-" + a.severity,
          el("span", "when", shortTime(a.fired_at || a.opened_at, ctx.tz())),
          " ",
          el("strong", null, domainName(ctx, a.domain)),
          " · ",
          ctx.tOr("severity." + a.severity, a.severity),
          " · ",
          ctx.tOr("alert.state." + a.state, a.state),
        );
        if (a.acknowledged_by) {
          li.append(
            el(
              "div",
              "muted",
              ctx.t("alert.acknowledged", { who: a.acknowledged_by, time: shortTime(a.acknowledged_at, ctx.tz()) }) +
                (a.note ? ": " + a.note : ""),
            ),
          );
        }
        return li;
      }),
    );
  }
}

/** Every driver of a change, the biggest contribution first (safety facts contribute 0). */
function byContribution(drivers, n = 8) {
  return [...(drivers || [])].sort((a, b) => b.contribution - a.contribution).slice(0, n);
}

function deltaClass(delta) {
  if (!delta) return "";
  return delta > 0 ? "up" : "down";
}
