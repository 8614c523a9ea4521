// The policy map's pure parts (tested by test/whatif.test.js): the changes a page may ask for,
// the request's parameters, the ranked rows and how small predicted changes are written.
// The numbers come from GET /api/whatif (the index model run on a copy of each district's state).

/** The facility kinds a what-if may add (indices.taxonomy.FACILITY_KINDS, in its order). */
export const WHATIF_FACILITIES = [
  "cctv", "security_light", "emergency_bell", "shelter", "hydrant", "fire_station", "police_box", "aed",
];
export const WHATIF_MAX_COUNT = 100; // the gateway's limit (dashboard_ws.api.routes)
export const WHATIF_GROUPS = ["natural", "calamity", "crime"];
export const RIGHT_WHATIF = "whatif.read";

/** The count typed in the form as a whole number 1..100, or null when it is not one. */
export function whatifCount(text) {
  const s = String(text ?? "").trim();
  if (!/^\d{1,3}$/.test(s)) return null;
  const n = Number(s);
  return n >= 1 && n <= WHATIF_MAX_COUNT ? n : null;
}

/** GET /api/whatif's parameters for a facility change (null when the form is not valid). */
export function whatifParams({ change, count, by }) {
  const n = whatifCount(count);
  if (!WHATIF_FACILITIES.includes(change) || n === null) return null;
  return { change, count: String(n), by: by === "safety" ? "safety" : "risk" };
}

/** The answer's districts in rank order (the gateway ranks them; this only guards the order). */
export function rankedRows(answer) {
  return [...((answer && answer.districts) || [])].sort((a, b) => a.rank - b.rank);
}

/** What the choropleth shows of a row: the reduction per item the ranking is by. */
export function mapValue(row, by) {
  return by === "safety" ? row.safety_gain_per_item : row.risk_reduction_per_item;
}

/**
 * A predicted change, written so that small ones stay visible: 4 decimals, 3 significant digits
 * below 0.001, "0" for none. `sign` adds "+" to positive values.
 */
export function changeText(value, { sign = false } = {}) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "—";
  const v = Number(value);
  if (v === 0) return "0";
  const text = Math.abs(v) >= 0.001 ? v.toFixed(4) : v.toPrecision(3);
  return sign && v > 0 ? "+" + text : text;
}
