// The table of districts (the "Table" view, #rows): every district's composite, grade, domain
// risks, safety, last change and top drivers, kept live like the map.
import { el } from "./dom.js";
import { fixed, shortTime, signed } from "./format.js";
import { DOMAINS } from "./grades.js";
import { explaining } from "./state.js";
import { chip, domainName } from "./panel.js";

export class DistrictTable {
  constructor(body, ctx, { onSelect }) {
    this.body = body;
    this.ctx = ctx;
    this.onSelect = onSelect;
    this.rows = new Map();
    this.waiting();
  }

  waiting(key = "table.waiting") {
    this.rows.clear();
    const td = el("td", "muted", this.ctx.t(key));
    td.colSpan = 7;
    this.body.replaceChildren(el("tr", null, td));
  }

  row(code) {
    let tr = this.rows.get(code);
    if (!tr) {
      tr = el("tr");
      tr.dataset.district = code;
      this.rows.set(code, tr);
    }
    return tr;
  }

  render(update, flash) {
    const ctx = this.ctx;
    const tr = this.row(update.district);
    const nameButton = el("button", "link-button", ctx.nameOf(update.district) || update.name);
    nameButton.type = "button";
    nameButton.addEventListener("click", () => this.onSelect(update.district));
    const name = el("td", null, nameButton, el("div", "muted", update.district));
    const composite = update.composite || {};
    const domains = el("td", "domains");
    const keys = [...DOMAINS.filter((d) => update.domains && d in update.domains),
      ...Object.keys(update.domains || {}).filter((d) => !DOMAINS.includes(d)).sort()];
    for (const d of keys) {
      const s = update.domains[d];
      domains.append(el("span", "domain", chip(ctx, s.grade), " " + domainName(ctx, d) + " " + fixed(s.risk)));
    }
    const change = el(
      "td",
      null,
      el("span", deltaClass(update.delta && update.delta.composite), signed(update.delta ? update.delta.composite : null)),
      el("div", "muted", shortTime(update.as_of, ctx.tz()) + (update.reason ? " · " + update.reason : "") + (update.seq !== undefined ? " · #" + update.seq : "")),
    );
    const drivers = el("td", "drivers");
    const top = explaining(update, 3);
    if (top.length === 0) drivers.textContent = "—";
    for (const d of top) {
      drivers.append(el("div", null, d.type + " (" + domainName(ctx, d.domain) + ") " + fixed(d.contribution) + " · " + d.event_id));
    }
    tr.replaceChildren(
      name,
      el("td", "num score", fixed(composite.value)),
      el("td", null, chip(ctx, composite.grade)),
      domains,
      el("td", "num safety", fixed(update.safety)),
      change,
      drivers,
    );
    if (flash) {
      tr.classList.remove("flash");
      void tr.offsetWidth;
      tr.classList.add("flash");
    }
  }

  /** Every district of `byCode`, ordered by code; rows of vanished districts go. */
  renderAll(byCode, { emptyKey } = {}) {
    const codes = Object.keys(byCode).sort();
    if (!codes.length) {
      this.waiting(emptyKey);
      return;
    }
    for (const code of codes) this.render(byCode[code], false);
    for (const code of [...this.rows.keys()]) if (!(code in byCode)) this.rows.delete(code);
    this.body.replaceChildren(...codes.map((c) => this.rows.get(c)));
  }
}

function deltaClass(x) {
  return x > 0 ? "up" : x < 0 ? "down" : "";
}
