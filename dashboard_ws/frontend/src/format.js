// Numbers, dates and times as the control room reads them: times in the city's time zone
// (never the browser's), 24-hour clock, ISO-like dates that read the same in Korean and English.
// Pure: no DOM, no globals but Intl (tested by test/format.test.js).

const partsFormatters = new Map();

function partsFormatter(timeZone) {
  let formatter = partsFormatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-CA", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    partsFormatters.set(timeZone, formatter);
  }
  return formatter;
}

function toDate(value) {
  if (value instanceof Date) return value;
  if (typeof value === "number") return new Date(value);
  return new Date(String(value));
}

/** The wall-clock fields of `when` in `timeZone`: {year, month, day, hour, minute, second}. */
export function zonedParts(when, timeZone) {
  const out = {};
  for (const part of partsFormatter(timeZone).formatToParts(toDate(when))) {
    if (part.type !== "literal") out[part.type] = Number(part.value);
  }
  if (out.hour === 24) out.hour = 0; // some engines say 24:00 for midnight
  return out;
}

/** Minutes `timeZone` is ahead of UTC at the instant `when` (Asia/Seoul: 540). */
export function offsetMinutes(when, timeZone) {
  const date = toDate(when);
  const p = zonedParts(date, timeZone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  const whole = Math.floor(date.getTime() / 1000) * 1000;
  return Math.round((asUtc - whole) / 60000);
}

/** "+09:00" for 540. */
export function offsetLabel(minutes) {
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return sign + pad2(Math.floor(abs / 60)) + ":" + pad2(abs % 60);
}

function pad2(n) {
  return String(n).padStart(2, "0");
}

/** "2026-11-25 14:05:03" (or without seconds) in the city's time zone; "—" for nothing. */
export function dateTime(when, timeZone, { seconds = true } = {}) {
  if (when === null || when === undefined || when === "") return "—";
  const date = toDate(when);
  if (Number.isNaN(date.getTime())) return "—";
  const p = zonedParts(date, timeZone);
  return `${p.year}-${pad2(p.month)}-${pad2(p.day)} ${clockOf(p, seconds)}`;
}

/** "14:05:03" in the city's time zone. */
export function clock(when, timeZone, { seconds = true } = {}) {
  if (when === null || when === undefined || when === "") return "—";
  const date = toDate(when);
  if (Number.isNaN(date.getTime())) return "—";
  return clockOf(zonedParts(date, timeZone), seconds);
}

function clockOf(p, seconds) {
  return `${pad2(p.hour)}:${pad2(p.minute)}` + (seconds ? `:${pad2(p.second)}` : "");
}

/** A time of today as a clock, an older one with its date. */
export function shortTime(when, timeZone, now = new Date()) {
  if (when === null || when === undefined || when === "") return "—";
  const a = zonedParts(when, timeZone);
  const b = zonedParts(now, timeZone);
  const sameDay = a.year === b.year && a.month === b.month && a.day === b.day;
  return sameDay ? clock(when, timeZone) : dateTime(when, timeZone, { seconds: false });
}

/** The value of an <input type="datetime-local" step="1"> showing `when` in the city. */
export function toInputValue(when, timeZone) {
  const p = zonedParts(when, timeZone);
  return `${p.year}-${pad2(p.month)}-${pad2(p.day)}T${pad2(p.hour)}:${pad2(p.minute)}:${pad2(p.second)}`;
}

const LOCAL_INPUT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/;

/**
 * The instant a city wall-clock time ("2026-11-25T14:05" or with seconds) stands for, or null
 * when the text is not such a time. In a daylight-saving gap the later offset wins.
 */
export function fromInputValue(text, timeZone) {
  const m = LOCAL_INPUT.exec(String(text || "").trim());
  if (!m) return null;
  const [year, month, day, hour, minute] = m.slice(1, 6).map(Number);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
    return null;
  }
  const wall = Date.UTC(year, month - 1, day, hour, minute, second);
  // Two passes: the offset at the first guess, then at the instant it gives.
  let guess = wall - offsetMinutes(wall, timeZone) * 60000;
  guess = wall - offsetMinutes(guess, timeZone) * 60000;
  return new Date(guess);
}

/** RFC 3339 in UTC without milliseconds: what the history API's `at`, `from`, `to` take. */
export function rfc3339(when) {
  return toDate(when).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A fixed number of decimals, "—" for a missing value. */
export function fixed(value, digits = 2) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "—";
  return Number(value).toFixed(digits);
}

/** "+1.20", "-0.40", "0.00". */
export function signed(value, digits = 2) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "—";
  const n = Number(value);
  const text = n.toFixed(digits);
  return n > 0 && Number(text) !== 0 ? "+" + text : text.replace(/^-(0\.0*)$/, "$1");
}

/** 0.87 -> "87%". */
export function percent(value) {
  if (value === null || value === undefined) return "—";
  return Math.round(Number(value) * 100) + "%";
}

/** Thousands separated the way the language writes them: 61023 -> "61,023". */
export function integer(value, lang) {
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat(lang === "ko" ? "ko-KR" : "en-US").format(Math.round(value));
}

/** A duration in whole units: 42 -> {n: 42, unit: "s"}, 150 -> {n: 2, unit: "min"}. */
export function age(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return { n: s, unit: "s" };
  if (s < 3600) return { n: Math.floor(s / 60), unit: "min" };
  if (s < 86400) return { n: Math.floor(s / 3600), unit: "h" };
  return { n: Math.floor(s / 86400), unit: "d" };
}
