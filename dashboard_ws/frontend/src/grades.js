// Grades and their colours, what a map layer shows of a district, the legend's bands, and the
// statistics map's classes. Pure (tested by test/grades.test.js).
//
// Grades are the model's (indices.formulas.grade, INFORM's absolute classes): 1 very low (< 2.0)
// .. 5 very high (>= 6.5) on the 0-10 scale; the server sends them with every value. The cuts
// below only label the legend and grade the safety index, which comes without a grade; the
// city's own cuts come with GET /api/city (grade_cuts) and replace them.

export const GRADE_CUTS = [2.0, 3.5, 5.0, 6.5];
export const GRADES = [1, 2, 3, 4, 5];

export const DOMAINS = ["fire", "flood_weather", "traffic", "crime", "living_safety", "air_quality"];
export const GROUPS = {
  natural: ["flood_weather", "air_quality"], // 재해
  calamity: ["fire", "traffic", "living_safety"], // 재난
  crime: ["crime"], // 범죄
};

/** Fill and text colour per grade: a green-to-red ramp whose text passes WCAG AA (4.5:1). */
export const GRADE_COLOURS = {
  1: { fill: "#1b7837", text: "#ffffff" },
  2: { fill: "#a6d96a", text: "#111111" },
  3: { fill: "#fee08b", text: "#111111" },
  4: { fill: "#f46d43", text: "#111111" },
  5: { fill: "#b2182b", text: "#ffffff" },
};
export const NO_DATA_COLOUR = { fill: "#8a8f98", text: "#111111" };

/** The statistics map's sequential classes (light to dark blue-purple). */
export const CLASS_COLOURS = ["#edf8fb", "#b3cde3", "#8c96c6", "#8856a7", "#810f7c"];

/** The model's grade of a 0-10 value. */
export function gradeOf(value, cuts = GRADE_CUTS) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return null;
  let grade = 1;
  for (const cut of cuts) if (Number(value) >= cut) grade += 1;
  return grade;
}

/** The safety index (안전도: 10 = best coping) graded like a risk: 1 = safest. */
export function safetyGrade(safety, cuts = GRADE_CUTS) {
  if (safety === null || safety === undefined) return null;
  return gradeOf(10 - Number(safety), cuts);
}

/** Every layer the map can fill by: composite, the three groups, each domain, safety. */
export function layerKeys(domains = DOMAINS) {
  return [
    "composite",
    ...Object.keys(GROUPS).map((g) => "group:" + g),
    ...domains,
    "safety",
  ];
}

/** What `layer` says of a district's ScoreUpdate: {value, grade} (nulls when it has none). */
export function layerValue(update, layer, cuts = GRADE_CUTS) {
  const none = { value: null, grade: null };
  if (!update) return none;
  if (layer === "composite") {
    return update.composite ? { value: update.composite.value, grade: update.composite.grade } : none;
  }
  if (layer === "safety") {
    if (update.safety === null || update.safety === undefined) return none;
    return { value: update.safety, grade: safetyGrade(update.safety, cuts) };
  }
  if (layer.startsWith("group:")) {
    const g = update.groups && update.groups[layer.slice(6)];
    return g ? { value: g.risk, grade: g.grade } : none;
  }
  const d = update.domains && update.domains[layer];
  return d ? { value: d.risk, grade: d.grade } : none;
}

/**
 * The legend's bands for `layer`: [{grade, from, to}] where from/to bound the layer's own value
 * (for safety the scale runs the other way: grade 1 is 10 - 2.0 = 8.0 and above).
 */
export function legendBands(layer, cuts = GRADE_CUTS) {
  const edges = [0, ...cuts, 10];
  return GRADES.map((grade) => {
    const lo = edges[grade - 1];
    const hi = edges[grade];
    if (layer === "safety") return { grade, from: round1(10 - hi), to: round1(10 - lo) };
    return { grade, from: lo, to: hi };
  });
}

function round1(x) {
  return Math.round(x * 10) / 10;
}

/**
 * Class breaks for the statistics map: up to `classes` classes of equal width from 0 to the
 * largest value (counts of incidents are small and skewed; equal widths read plainly in a
 * legend). Counts (`integers`) get whole-number bounds, so never more classes than the largest
 * count. Returns the upper bounds, ascending; [] when every value is zero.
 */
export function classBreaks(values, classes = 5, { integers = false } = {}) {
  const max = Math.max(0, ...values.filter((v) => Number.isFinite(v)));
  if (max <= 0) return [];
  if (integers) {
    const step = Math.ceil(max / classes);
    const breaks = [];
    for (let b = step; b < max; b += step) breaks.push(b);
    breaks.push(Math.ceil(max));
    return breaks;
  }
  const step = max / classes;
  const breaks = [];
  for (let i = 1; i <= classes; i += 1) breaks.push(i === classes ? max : step * i);
  return breaks;
}

/** The class (1..n) of `value` for `breaks` from classBreaks; 0 for zero or nothing. */
export function classOf(value, breaks) {
  if (!breaks.length || !(value > 0)) return 0;
  for (let i = 0; i < breaks.length; i += 1) if (value <= breaks[i] + 1e-9) return i + 1;
  return breaks.length;
}

/** The colour (1..5 of CLASS_COLOURS) of class `cls` of `n`: fewer classes spread to the dark end. */
export function classColour(cls, n) {
  if (!cls || !n) return 0;
  return Math.min(CLASS_COLOURS.length, Math.ceil((cls * CLASS_COLOURS.length) / n));
}

/** The legend's [from, to] of each class: counts from the next whole number, rates from the bound. */
export function classRanges(breaks, { integers = false } = {}) {
  let lo = 0;
  return breaks.map((hi) => {
    const range = [integers ? lo + 1 : lo, hi];
    lo = hi;
    return range;
  });
}

/** The heat layer's colour: pale yellow to dark red by level 0..1. */
export function heatColour(level) {
  const stops = [
    [0, [255, 237, 160]],
    [0.5, [253, 141, 60]],
    [1, [189, 0, 38]],
  ];
  const x = Math.min(Math.max(level, 0), 1);
  let i = 0;
  while (i < stops.length - 2 && x > stops[i + 1][0]) i += 1;
  const [x0, c0] = stops[i];
  const [x1, c1] = stops[i + 1];
  const f = (x - x0) / (x1 - x0);
  const rgb = c0.map((c, k) => Math.round(c + (c1[k] - c) * f));
  return "#" + rgb.map((c) => c.toString(16).padStart(2, "0")).join("");
}

// --- contrast (WCAG 2.x), for the tests and for choosing label colours ------------------------

function channel(c) {
  const s = c / 255;
  return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
}

export function luminance(hex) {
  const n = parseInt(hex.replace("#", ""), 16);
  return 0.2126 * channel((n >> 16) & 255) + 0.7152 * channel((n >> 8) & 255) + 0.0722 * channel(n & 255);
}

export function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}
