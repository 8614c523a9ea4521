// The alerts panel: pending, firing and acknowledged alerts, firing and the most severe and
// newest first, clusters of adjacent districts kept together; operators acknowledge with a note
// (the gateway names them from the session). Each item: <li data-alert-id data-state
// data-district class="alert state-… sev-…">. Arrow keys move between alerts, Enter shows the
// alert's district.
import { el } from "./dom.js";
import { fixed, shortTime } from "./format.js";
import { groupAlerts } from "./state.js";
import { domainName } from "./panel.js";
import { canWarn } from "./capout.js";

const RIGHT_ACKNOWLEDGE = "alert.acknowledge";

export class AlertsView {
  constructor(list, ctx, { onSelect, onAck, onWarn }) {
    this.list = list;
    this.ctx = ctx;
    this.onSelect = onSelect;
    this.onAck = onAck;
    this.onWarn = onWarn; // (alert id, district): a public warning (CAP) for operators
    this.items = new Map(); // alert id -> {li, info, form, input, button, status}
    this.status = new Map(); // alert id -> {key, vars, cls, pending}
    this.counter = 0;
    list.addEventListener("keydown", (event) => this.onKey(event));
  }

  item(alert) {
    let item = this.items.get(alert.id);
    if (!item) {
      const li = el("li", "alert");
      li.dataset.alertId = alert.id;
      li.tabIndex = 0;
      const info = el("div", "alert-info");
      const status = el("div", "ack-status");
      status.setAttribute("role", "status");
      li.append(info, status);
      li.addEventListener("click", (event) => {
        if (event.target.closest("form, button, input")) return;
        this.onSelect(li.dataset.district);
      });
      item = { li, info, form: null, input: null, button: null, status, noteLabel: null };
      this.items.set(alert.id, item);
    }
    return item;
  }

  ackForm(item, alertId) {
    const form = el("form", "ack");
    const input = el("input", "ack-note");
    input.type = "text";
    input.id = "ack-note-" + ++this.counter;
    input.name = "note";
    input.maxLength = 2000;
    input.autocomplete = "off";
    const label = el("label", "visually-hidden");
    label.htmlFor = input.id;
    const button = el("button", "ack-button");
    button.type = "submit";
    form.append(label, input, button);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.onAck(alertId, input.value.trim());
    });
    item.form = form;
    item.input = input;
    item.button = button;
    item.noteLabel = label;
    item.li.insertBefore(form, item.status);
    this.relabelForm(item);
  }

  relabelForm(item) {
    if (!item.form) return;
    const t = this.ctx.t;
    item.noteLabel.textContent = t("ack.note");
    item.input.placeholder = t("ack.placeholder");
    item.button.textContent = t("ack.button");
  }

  renderAlert(alert) {
    const ctx = this.ctx;
    const tz = ctx.tz();
    const item = this.item(alert);
    const li = item.li;
    li.className = "alert sev-" + alert.severity + " state-" + alert.state + (alert.cluster ? " in-cluster" : "");
    li.dataset.state = alert.state;
    li.dataset.district = alert.district;
    li.dataset.severity = alert.severity;
    const name = ctx.nameOf(alert.district) || alert.name;
    const head = el(
      "div",
      "alert-head",
      el("span", "sev-badge", ctx.tOr("severity." + alert.severity, alert.severity)),
      " ",
      el("span", "alert-name", name),
      " · ",
      domainName(ctx, alert.domain),
      " ",
      el("span", "alert-state", ctx.tOr("alert.state." + alert.state, alert.state)),
    );
    const what =
      alert.rule === "stale"
        ? ctx.t("alert.stale")
        : (alert.triggers || []).map((x) => ctx.tOr("alert.trigger." + x, x)).join(", ");
    const when = alert.fired_at
      ? ctx.t("alert.fired", { time: shortTime(alert.fired_at, tz) })
      : ctx.t("alert.opened", { time: shortTime(alert.opened_at, tz) });
    const detail = el(
      "div",
      "alert-detail",
      ctx.t("alert.detail", {
        what,
        value: fixed(alert.value),
        peak: fixed(alert.peak),
        baseline:
          alert.baseline === null || alert.baseline === undefined
            ? ""
            : ctx.t("alert.baseline", { baseline: fixed(alert.baseline) }),
        when,
        district: alert.district,
      }),
    );
    const parts = [head, detail];
    if (alert.acknowledged_by) {
      parts.push(
        el(
          "div",
          "acknowledged",
          ctx.t("alert.acknowledged", { who: alert.acknowledged_by, time: shortTime(alert.acknowledged_at, tz) }) +
            (alert.note ? ": " + alert.note : ""),
        ),
      );
    }
    const drivers = (alert.drivers || []).slice(0, 3);
    if (drivers.length) {
      parts.push(el("div", "drivers event-id", drivers.map((d) => d.type + " " + d.event_id).join(" · ")));
    }
    item.info.replaceChildren(...parts);
    li.setAttribute(
      "aria-label",
      [ctx.tOr("severity." + alert.severity, alert.severity), name, domainName(ctx, alert.domain), ctx.tOr("alert.state." + alert.state, alert.state)].join(", "),
    );
    const canAck = alert.state === "firing" && ctx.may(RIGHT_ACKNOWLEDGE) && !ctx.kiosk;
    if (canAck && !item.form) this.ackForm(item, alert.id);
    if (!canAck && item.form) {
      item.form.remove();
      item.form = item.button = item.input = item.noteLabel = null;
    }
    const warn = Boolean(this.onWarn) && canWarn(alert, ctx.may, ctx.kiosk);
    if (warn && !item.warn) {
      item.warn = el("button", "cap-warn");
      item.warn.type = "button";
      item.warn.addEventListener("click", () => this.onWarn(alert.id, li.dataset.district));
      item.li.insertBefore(item.warn, item.status);
    }
    if (!warn && item.warn) {
      item.warn.remove();
      item.warn = null;
    }
    if (item.warn) item.warn.textContent = ctx.t("cap.warn");
    this.relabelForm(item);
    this.showStatus(alert.id);
  }

  /** Draw `alerts` (an array of Alert) in order, moving only what is out of place. */
  render(alerts) {
    const ids = new Set(alerts.map((a) => a.id));
    for (const id of [...this.items.keys()]) {
      if (!ids.has(id)) {
        this.items.get(id).li.remove();
        this.items.delete(id);
        this.status.delete(id);
      }
    }
    const wanted = [];
    for (const group of groupAlerts(alerts)) {
      if (group.cluster) {
        const head = this.clusterHead(group);
        wanted.push(head);
      }
      for (const alert of group.alerts) {
        this.renderAlert(alert);
        wanted.push(this.items.get(alert.id).li);
      }
    }
    // Move only what is out of place: a note being typed keeps its focus.
    wanted.forEach((node, i) => {
      if (this.list.children[i] !== node) this.list.insertBefore(node, this.list.children[i] || null);
    });
    while (this.list.children.length > wanted.length) this.list.lastElementChild.remove();
  }

  clusterHead(group) {
    this.clusterHeads = this.clusterHeads || new Map();
    let head = this.clusterHeads.get(group.cluster);
    if (!head) {
      head = el("li", "cluster-head");
      head.dataset.cluster = group.cluster;
      this.clusterHeads.set(group.cluster, head);
    }
    const districts = [...new Set(group.alerts.map((a) => a.district))];
    head.textContent = this.ctx.t("alert.cluster", { n: districts.length }) + " · " + districts.map((c) => this.ctx.nameOf(c)).join(", ");
    return head;
  }

  setStatus(alertId, key, vars, cls = "", pending = false) {
    this.status.set(alertId, { key, vars, cls, pending });
    this.showStatus(alertId);
  }

  showStatus(alertId) {
    const item = this.items.get(alertId);
    if (!item) return;
    const s = this.status.get(alertId);
    item.status.textContent = s ? this.ctx.t(s.key, s.vars) : "";
    item.status.className = "ack-status" + (s && s.cls ? " " + s.cls : "");
    if (item.button) item.button.disabled = Boolean(s && s.pending);
  }

  has(alertId) {
    return this.items.has(alertId);
  }

  clear() {
    this.items.clear();
    this.status.clear();
    this.list.replaceChildren();
  }

  onKey(event) {
    const li = event.target.closest("li[data-alert-id]");
    if (!li || event.target !== li) return; // typing a note: keys are the input's
    const all = [...this.list.querySelectorAll("li[data-alert-id]")];
    const i = all.indexOf(li);
    let next;
    if (event.key === "ArrowDown") next = all[i + 1];
    else if (event.key === "ArrowUp") next = all[i - 1];
    else if (event.key === "Home") next = all[0];
    else if (event.key === "End") next = all[all.length - 1];
    else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      this.onSelect(li.dataset.district);
      return;
    } else return;
    event.preventDefault();
    if (next) next.focus();
  }
}
