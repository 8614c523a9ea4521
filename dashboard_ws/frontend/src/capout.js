// Public warnings (CAP 1.2) for operators (right "cap.publish"): from a sustained alert, review
// riskmon's draft (Korean and English texts, expiry, the XML), edit it and approve it; the gateway
// publishes it to riskmon.cap-out. Warnings out and not cleared are listed, each one click from its
// Update or, once riskmon's alert resolved, its all-clear.
//
//   GET  /api/cap/draft?alert=ID   the next message of the alert's chain
//   GET  /api/cap/open             warnings out, not cleared
//   POST /api/cap/approve          {alert, identifier, headline, description, instruction, expires}
import { el } from "./dom.js";
import { errorDetail, getJSON } from "./api.js";
import { fromInputValue, rfc3339, shortTime, toInputValue } from "./format.js";
import { domainName } from "./panel.js";

export const RIGHT_CAP = "cap.publish";
const TEXTS = [
  ["headline", 160, false],
  ["description", 2000, true],
  ["instruction", 1000, true],
];
const LANGS = ["ko", "en"];
const REFRESH_MS = 30_000;

/** May this alert become a public warning from its item in the alerts list? */
export function canWarn(alert, may, kiosk) {
  return may(RIGHT_CAP) && !kiosk && (alert.state === "firing" || alert.state === "acknowledged");
}

/**
 * The approval's body: the draft's identifier (so a stale draft is refused), and only the texts
 * the operator changed (an emptied text is sent as "" and so removed); `expires` when changed.
 */
export function approvalBody(draft, values, timeZone) {
  const body = { alert: draft.alert_id, identifier: draft.identifier };
  for (const [name] of TEXTS) {
    const changed = {};
    for (const lang of LANGS) {
      const value = (values[name] && values[name][lang]) ?? "";
      const was = (draft[name] && draft[name][lang]) || "";
      if (value.trim() !== was.trim()) changed[lang] = value.trim();
    }
    if (Object.keys(changed).length) body[name] = changed;
  }
  if (values.expires && values.expires !== toInputValue(draft.expires, timeZone).slice(0, 16)) {
    const at = fromInputValue(values.expires, timeZone);
    if (at) body.expires = rfc3339(at);
  }
  return body;
}

/** Which kind of message the draft is: "Alert", "Update" or "all_clear". */
export function draftKind(draft) {
  return draft.all_clear ? "all_clear" : draft.msg_type;
}

export class CapOut {
  constructor(ctx, section, list) {
    this.ctx = ctx;
    this.section = section;
    this.list = list;
    this.draft = null;
    this.timer = null;
    this.buildDialog();
    document.body.append(this.dialog);
  }

  /** Show the section to those who may publish; refresh its list now and every 30 s. */
  setRights() {
    const allowed = this.ctx.may(RIGHT_CAP) && !this.ctx.kiosk;
    this.section.hidden = !allowed;
    clearInterval(this.timer);
    this.timer = null;
    if (!allowed) return;
    this.refresh();
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
  }

  async refresh() {
    let answer;
    try {
      answer = await getJSON("/api/cap/open");
    } catch {
      return; // offline: the list stays as it was
    }
    if (answer.status !== 200) return;
    this.renderChains(answer.body.chains || []);
  }

  renderChains(chains) {
    const ctx = this.ctx;
    const items = chains.map((chain) => {
      const li = el("li", "cap-chain");
      li.dataset.alertId = chain.alert_id;
      const resolved = chain.alert_state === "resolved";
      const label = [
        ctx.nameOf(chain.district) || chain.district,
        domainName(ctx, chain.domain),
        chain.last.identifier,
        shortTime(chain.last.sent, ctx.tz()),
      ].join(" · ");
      const button = el("button", "cap-open", ctx.t(resolved ? "cap.clear" : "cap.open"));
      button.type = "button";
      button.addEventListener("click", () => this.open(chain.alert_id, chain.district));
      li.append(el("span", resolved ? "cap-label cap-resolved" : "cap-label", label), " ", button);
      return li;
    });
    this.list.replaceChildren(...items);
    const empty = this.section.querySelector(".cap-empty");
    if (empty) empty.hidden = chains.length > 0;
  }

  buildDialog() {
    const dialog = el("dialog", "cap-dialog");
    this.dialog = dialog;
    dialog.id = "cap-dialog";
    dialog.setAttribute("aria-labelledby", "cap-dialog-title");
    const form = el("form", "cap-form");
    form.method = "dialog";
    const title = el("h2", "cap-title");
    title.id = "cap-dialog-title";
    const kind = el("p", "cap-kind muted");
    const fields = el("div", "cap-fields");
    this.inputs = {};
    for (const [name, max, multi] of TEXTS) {
      this.inputs[name] = {};
      const group = el("fieldset", "cap-text");
      const legend = el("legend");
      legend.dataset.capText = name;
      group.append(legend);
      for (const lang of LANGS) {
        const input = el(multi ? "textarea" : "input", "cap-" + name);
        if (!multi) input.type = "text";
        input.maxLength = max;
        input.id = `cap-${name}-${lang}`;
        input.lang = lang;
        input.dataset.lang = lang;
        const label = el("label", "cap-lang");
        label.htmlFor = input.id;
        label.dataset.capLang = lang;
        group.append(label, input);
        this.inputs[name][lang] = input;
      }
      fields.append(group);
    }
    const expiresLabel = el("label", "cap-expires-label");
    this.expires = el("input", "cap-expires");
    this.expires.type = "datetime-local";
    this.expires.id = "cap-expires";
    expiresLabel.htmlFor = this.expires.id;
    fields.append(expiresLabel, this.expires);
    const xml = el("details", "cap-xml");
    const summary = el("summary");
    this.xml = el("pre", "cap-xml-text");
    this.xml.tabIndex = 0;
    xml.append(summary, this.xml);
    const status = el("p", "cap-status");
    status.setAttribute("role", "status");
    const approve = el("button", "cap-approve");
    approve.type = "button";
    approve.addEventListener("click", () => this.approve());
    const close = el("button", "cap-close");
    close.type = "submit";
    const actions = el("div", "cap-actions", approve, " ", close);
    form.append(title, kind, fields, xml, status, actions);
    dialog.append(form);
    Object.assign(this, { title, kind, status, approveButton: approve, closeButton: close, summary });
    this.expiresLabel = expiresLabel;
    this.relabel();
  }

  relabel() {
    const t = this.ctx.t;
    for (const legend of this.dialog.querySelectorAll("legend[data-cap-text]")) {
      legend.textContent = t("cap." + legend.dataset.capText);
    }
    for (const label of this.dialog.querySelectorAll("label[data-cap-lang]")) {
      label.textContent = t("cap.lang." + label.dataset.capLang);
    }
    this.expiresLabel.textContent = t("cap.expires");
    this.summary.textContent = t("cap.xml");
    this.approveButton.textContent = t("cap.approve");
    this.closeButton.textContent = t("cap.close");
    if (this.draft) this.showDraft(this.draft, this.district);
  }

  async open(alertId, district) {
    this.district = district;
    this.status.textContent = "";
    this.status.className = "cap-status";
    let answer;
    try {
      answer = await getJSON("/api/cap/draft", { alert: alertId });
    } catch {
      answer = { status: 0, detail: this.ctx.t("cap.offline") };
    }
    if (!this.dialog.open) this.dialog.showModal();
    if (answer.status !== 200) {
      this.draft = null;
      this.title.textContent = this.ctx.t("cap.dialog", { district: this.ctx.nameOf(district) || district });
      this.kind.textContent = "";
      this.say("cap.failed", { reason: answer.detail }, "bad");
      this.approveButton.disabled = true;
      return;
    }
    this.showDraft(answer.body, district);
    this.inputs.headline.ko.focus();
  }

  showDraft(draft, district) {
    const ctx = this.ctx;
    this.draft = draft;
    this.title.textContent = ctx.t("cap.dialog", { district: ctx.nameOf(district) || district });
    const kind = ctx.t("cap.kind." + draftKind(draft));
    this.kind.textContent = kind + " · " + draft.identifier + (draft.published.length ? " · " + ctx.t("cap.chain", { n: draft.published.length }) : "");
    for (const [name] of TEXTS) {
      for (const lang of LANGS) this.inputs[name][lang].value = (draft[name] && draft[name][lang]) || "";
    }
    this.expires.value = toInputValue(draft.expires, ctx.tz()).slice(0, 16);
    this.xml.textContent = draft.xml;
    this.approveButton.disabled = !draft.eligible;
    if (!draft.eligible) this.say("cap.not_eligible", { reason: draft.reason || "" }, "bad");
  }

  values() {
    const values = { expires: this.expires.value };
    for (const [name] of TEXTS) {
      values[name] = {};
      for (const lang of LANGS) values[name][lang] = this.inputs[name][lang].value;
    }
    return values;
  }

  async approve() {
    if (!this.draft) return;
    const body = approvalBody(this.draft, this.values(), this.ctx.tz());
    this.approveButton.disabled = true;
    this.say("cap.sending", null, "");
    let response;
    try {
      response = await fetch("/api/cap/approve", {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
    } catch {
      this.say("cap.failed", { reason: this.ctx.t("cap.offline") }, "bad");
      this.approveButton.disabled = false;
      return;
    }
    if (response.status === 201 || response.status === 200) {
      const published = await response.json();
      this.say("cap.published", { identifier: published.identifier }, "ok");
      this.dialog.dataset.published = published.identifier;
      this.refresh();
      return;
    }
    this.say("cap.failed", { reason: await errorDetail(response) }, "bad");
    // 503: stored, not confirmed: approving again re-sends it
    this.approveButton.disabled = response.status !== 503;
  }

  say(key, vars, cls) {
    this.status.textContent = this.ctx.t(key, vars || {});
    this.status.className = "cap-status" + (cls ? " " + cls : "");
  }
}

const SEVERITY_COLOUR = { Extreme: "#d7191c", Severe: "#f46d43", Moderate: "#fdae61", Minor: "#fee08b" };

/** One line describing a CAP alert in effect (for the tooltip), in the page's language. */
export function capAreaLabel(props, t, when) {
  const parts = [props.headline || props.event, props.event, t("cap.area.severity." + (props.severity || "Unknown"))];
  if (props.sender_name) parts.push(props.sender_name);
  parts.push(t("cap.area.until", { time: when(props.expires) }));
  parts.push(t(props.mapped ? "cap.area.mapped" : "cap.area.overlay"));
  return [...new Set(parts.filter(Boolean))].join(" · ");
}

/**
 * The CAP alerts in effect over the city (GET /api/cap/active, every 30 s while shown): each
 * alert's area outlined in its severity's colour, with a tooltip; mapped ones move an index,
 * overlays do not. Drawn on the live map's Leaflet instance (`mapOf().map`).
 */
export class CapAreas {
  constructor(ctx, mapOf, checkbox, note, L) {
    this.ctx = ctx;
    this.mapOf = mapOf;
    this.checkbox = checkbox;
    this.note = note;
    this.L = L;
    this.layer = null;
    this.timer = null;
    checkbox.addEventListener("change", () => this.load());
  }

  clear(text) {
    if (this.layer) this.layer.remove();
    this.layer = null;
    this.note.textContent = text || "";
    this.note.dataset.alerts = "0";
  }

  async load() {
    clearTimeout(this.timer);
    const districtMap = this.mapOf();
    if (!this.checkbox.checked || !districtMap || !districtMap.map) {
      this.clear("");
      return;
    }
    let answer;
    try {
      answer = await getJSON("/api/cap/active");
    } catch (err) {
      answer = { status: 0, detail: String(err) };
    }
    if (!this.checkbox.checked) return;
    if (answer.status !== 200) {
      this.clear(this.ctx.t("cap.area.unavailable", { detail: answer.detail }));
    } else {
      this.draw(districtMap.map, answer.body);
    }
    this.timer = setTimeout(() => this.load(), REFRESH_MS);
  }

  draw(leafletMap, collection) {
    const ctx = this.ctx;
    if (this.layer) this.layer.remove();
    const when = (iso) => shortTime(iso, ctx.tz());
    this.layer = this.L.geoJSON(collection, {
      interactive: true,
      style: (feature) => ({
        className: "cap-area" + (feature.properties.mapped ? "" : " cap-overlay"),
        color: SEVERITY_COLOUR[feature.properties.severity] || "#9e9e9e",
        weight: 2.5,
        dashArray: feature.properties.mapped ? null : "6 4",
        fillOpacity: 0.08,
      }),
      onEachFeature: (feature, layer) => {
        layer.bindTooltip(el("span", null, capAreaLabel(feature.properties, ctx.t, when)), { sticky: true });
      },
    }).addTo(leafletMap);
    const n = collection.features.length;
    this.note.dataset.alerts = String(n);
    this.note.textContent = ctx.t("cap.area.count", { n });
  }
}
