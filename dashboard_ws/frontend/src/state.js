// The page's state as reducers: (state, action) -> new state, never mutating their input, so
// that what the websocket delivers can be replayed in tests (test/state.test.js). The DOM is
// drawn from these states by the view modules.

// --- district scores ----------------------------------------------------------------------------

/** {byCode: {code: ScoreUpdate}, lastDrivers: {code: {as_of, drivers, delta}}, changed: [codes]} */
export function emptyScores() {
  return { byCode: {}, lastDrivers: {}, changed: [] };
}

/**
 * Actions: {type: "snapshot", districts}, {type: "scores", districts} (a coalesced websocket
 * message: the newest state of each district that changed), {type: "score", update} (one),
 * {type: "clear"}. A district never steps back: an update whose seq is not above the held one
 * is ignored. `changed` lists the districts this action changed (the snapshot: every one).
 */
export function scoresReducer(state, action) {
  switch (action.type) {
    case "snapshot": {
      const byCode = {};
      const lastDrivers = {};
      for (const update of action.districts || []) {
        const held = byCode[update.district];
        if (held && held.seq >= update.seq) continue;
        byCode[update.district] = update;
        // A fresh snapshot keeps what explained the last change, unless it says more itself.
        lastDrivers[update.district] = driversOf(update) || state.lastDrivers[update.district];
      }
      for (const code of Object.keys(lastDrivers)) if (!lastDrivers[code]) delete lastDrivers[code];
      return { byCode, lastDrivers, changed: Object.keys(byCode) };
    }
    case "score":
      return scoresReducer(state, { type: "scores", districts: [action.update] });
    case "scores": {
      let byCode = null; // copied on the first change: the input is never mutated
      let lastDrivers = null;
      const changed = new Set();
      for (const update of action.districts || []) {
        const held = (byCode || state.byCode)[update.district];
        if (held && held.seq >= update.seq) continue;
        if (!byCode) {
          byCode = { ...state.byCode };
          lastDrivers = { ...state.lastDrivers };
        }
        changed.add(update.district);
        byCode[update.district] = update;
        const drivers = driversOf(update);
        if (drivers) lastDrivers[update.district] = drivers;
      }
      if (!byCode) return { ...state, changed: [] };
      return { byCode, lastDrivers, changed: [...changed] };
    }
    case "clear":
      return emptyScores();
    default:
      return state;
  }
}

function driversOf(update) {
  if (!update.drivers || update.drivers.length === 0) return null;
  return { as_of: update.as_of, drivers: update.drivers, delta: update.delta, seq: update.seq };
}

/** The biggest contributions first; zero ones (safety facts) left out. */
export function topDrivers(drivers, n = 5) {
  return (drivers || [])
    .filter((d) => d.contribution > 0)
    .sort((a, b) => b.contribution - a.contribution)
    .slice(0, n);
}

/** What explains a district's hazard now: its contributors, else its latest drivers. */
export function explaining(update, n = 3) {
  const contributors = Object.values(update.contributors || {}).flat();
  return topDrivers(contributors.length ? contributors : update.drivers, n);
}

/**
 * The map at a past moment (GET /api/scores?at=) as ScoreUpdate-like objects: full updates as
 * they are, downsampled districts rebuilt from their series (only what was kept), and the
 * model version(s) the moment was scored with.
 */
export function scoresAt(answer) {
  const byCode = {};
  const versions = new Set();
  for (const update of answer.districts || []) {
    byCode[update.district] = update;
    if (update.model_version) versions.add(update.model_version);
  }
  for (const d of answer.downsampled || []) {
    if (byCode[d.district]) continue;
    const s = d.series || {};
    const domains = {};
    const groups = {};
    let asOf = null;
    for (const [key, v] of Object.entries(s)) {
      if (!asOf || v.as_of > asOf) asOf = v.as_of;
      if (key.startsWith("group:")) groups[key.slice(6)] = { risk: v.value, grade: v.grade };
      else if (key !== "composite" && key !== "safety") {
        domains[key] = { risk: v.value, grade: v.grade };
      }
    }
    byCode[d.district] = {
      district: d.district,
      downsampled: true,
      as_of: asOf,
      model_version: d.model_version,
      composite: s.composite ? { value: s.composite.value, grade: s.composite.grade } : null,
      safety: s.safety ? s.safety.value : null,
      domains,
      groups,
      drivers: [],
      contributors: {},
      stale_feeds: [],
    };
    if (d.model_version) versions.add(d.model_version);
  }
  return { at: answer.at, byCode, missing: answer.missing || [], versions: [...versions].sort() };
}

// --- alerts -----------------------------------------------------------------------------------

export const SEVERITY_RANK = { Extreme: 0, Severe: 1, Moderate: 2, Minor: 3 };
const STATE_RANK = { firing: 0, pending: 1, acknowledged: 2, resolved: 3 };

/** {byId: {id: Alert}, fired: [ids of alerts that began firing with this action]} */
export function emptyAlerts() {
  return { byId: {}, fired: [] };
}

/**
 * Actions: {type: "snapshot", alerts} (the open alerts, pending ones included: replaces them
 * all), {type: "alert", alert} (resolved ones are forgotten), {type: "clear"}.
 * `fired` names the alerts that turned firing live (not those of a snapshot): they ring.
 */
export function alertsReducer(state, action) {
  switch (action.type) {
    case "snapshot": {
      const byId = {};
      for (const a of action.alerts || []) if (a.state !== "resolved") byId[a.id] = a;
      return { byId, fired: [] };
    }
    case "alert": {
      const alert = action.alert;
      const held = state.byId[alert.id];
      if (held && held.seq >= alert.seq) return { ...state, fired: [] };
      const byId = { ...state.byId };
      if (alert.state === "resolved") delete byId[alert.id];
      else byId[alert.id] = alert;
      const fired = alert.state === "firing" && (!held || held.state !== "firing") ? [alert.id] : [];
      return { byId, fired };
    }
    case "clear":
      return emptyAlerts();
    default:
      return state;
  }
}

function alertTime(a) {
  return Date.parse(a.fired_at || a.opened_at || a.as_of || 0) || 0;
}

/** Firing, then pending, then acknowledged; the newest first; equally new: the most severe. */
export function alertOrder(a, b) {
  return (
    (STATE_RANK[a.state] ?? 9) - (STATE_RANK[b.state] ?? 9) ||
    alertTime(b) - alertTime(a) ||
    (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9) ||
    String(a.id).localeCompare(String(b.id))
  );
}

/**
 * The alerts in the panel's order, members of one cluster (same-domain alerts in adjacent
 * districts) kept together where its first member stands: [{cluster, alerts: [...]}].
 * An alert without a cluster, or alone in its cluster, is a group of one with cluster null.
 */
export function groupAlerts(alerts) {
  const sorted = [...alerts].sort(alertOrder);
  const size = {};
  for (const a of sorted) if (a.cluster) size[a.cluster] = (size[a.cluster] || 0) + 1;
  const groups = [];
  const byCluster = {};
  for (const a of sorted) {
    if (a.cluster && size[a.cluster] > 1) {
      if (!byCluster[a.cluster]) {
        byCluster[a.cluster] = { cluster: a.cluster, alerts: [] };
        groups.push(byCluster[a.cluster]);
      }
      byCluster[a.cluster].alerts.push(a);
    } else {
      groups.push({ cluster: null, alerts: [a] });
    }
  }
  return groups;
}

/** The districts each cluster of two or more open alerts spans: {cluster: [codes]}. */
export function clusterDistricts(alerts) {
  const out = {};
  for (const a of alerts) {
    if (!a.cluster) continue;
    (out[a.cluster] = out[a.cluster] || new Set()).add(a.district);
  }
  const result = {};
  for (const [cluster, codes] of Object.entries(out)) {
    if (codes.size > 1) result[cluster] = [...codes].sort();
  }
  return result;
}

// --- the connection -----------------------------------------------------------------------------

/** Live turns "stale" when no message came for this long (the page's ?stale=SECONDS overrides). */
export const STALE_AFTER_MS = 30_000;

/**
 * {phase: "signed_out"|"connecting"|"live"|"reconnecting"|"stale", lastMessageAt, retryAt, why}
 * Actions: connect, open (at), message (at), close (at, retryInMs, why), tick (at, staleAfterMs),
 * signed_out. Live turns stale when no message came for staleAfterMs; a message makes it live.
 */
export function connectionReducer(state, action) {
  switch (action.type) {
    case "connect":
      return { ...state, phase: state.phase === "reconnecting" ? "reconnecting" : "connecting" };
    case "open":
      return { ...state, phase: "live", lastMessageAt: action.at, retryAt: null, why: null };
    case "message":
      return { ...state, phase: "live", lastMessageAt: action.at };
    case "close":
      return {
        ...state,
        phase: "reconnecting",
        retryAt: action.retryInMs === undefined ? null : action.at + action.retryInMs,
        why: action.why || null,
      };
    case "tick":
      if (state.phase === "live" && action.at - (state.lastMessageAt || 0) > action.staleAfterMs) {
        return { ...state, phase: "stale" };
      }
      return state;
    case "signed_out":
      return initialConnection();
    default:
      return state;
  }
}

export function initialConnection() {
  return { phase: "signed_out", lastMessageAt: null, retryAt: null, why: null };
}

/** The next reconnect wait: doubling from first to max, with jitter in [0.5, 1.5). */
export function backoff(previousMs, { firstMs = 500, maxMs = 15000, random = Math.random } = {}) {
  const base = previousMs ? Math.min(previousMs * 2, maxMs) : firstMs;
  return { base, wait: base * (0.5 + random()) };
}

// --- flashes ------------------------------------------------------------------------------------

/**
 * Whether a district that changed at `now` may flash: at most one flash started per district
 * per `minGapMs` (a flash is two pulses of 400 ms: under 3 flashes a second, whatever the rate
 * of updates). Returns [mayFlash, nextLastFlash].
 */
export function flashGate(lastFlashAt, now, minGapMs = 1000) {
  if (lastFlashAt !== undefined && lastFlashAt !== null && now - lastFlashAt < minGapMs) {
    return [false, lastFlashAt];
  }
  return [true, now];
}
