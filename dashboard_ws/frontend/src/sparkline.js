// A sparkline of a history series (GET /api/districts/{code}/history): the SVG path and its
// summary. Pure (tested by test/sparkline.test.js).

/**
 * The path of `points` ([{t, value}], value null = nothing known yet: a gap) drawn in a box of
 * `width` x `height` with `pad` pixels inside, on a fixed 0..`top` scale so that sparklines of
 * different districts compare. Returns {d, min, max, last, count} (d "" when nothing to draw).
 */
export function sparkline(points, { width = 240, height = 48, pad = 2, top = 10 } = {}) {
  const known = points.filter((p) => p.value !== null && p.value !== undefined);
  if (known.length === 0) return { d: "", min: null, max: null, last: null, count: 0 };
  const n = points.length;
  const xOf = (i) => (n === 1 ? width / 2 : pad + (i * (width - 2 * pad)) / (n - 1));
  const yOf = (v) => {
    const clamped = Math.min(Math.max(v, 0), top);
    return height - pad - (clamped / top) * (height - 2 * pad);
  };
  let d = "";
  let pen = false;
  points.forEach((p, i) => {
    if (p.value === null || p.value === undefined) {
      pen = false;
      return;
    }
    d += (pen ? "L" : "M") + xOf(i).toFixed(1) + " " + yOf(p.value).toFixed(1);
    pen = true;
  });
  const values = known.map((p) => p.value);
  return {
    d,
    min: Math.min(...values),
    max: Math.max(...values),
    last: known[known.length - 1].value,
    count: known.length,
  };
}

/** The y of a value on the same scale (for grade band lines). */
export function yOfValue(value, { height = 48, pad = 2, top = 10 } = {}) {
  return height - pad - (Math.min(Math.max(value, 0), top) / top) * (height - 2 * pad);
}
