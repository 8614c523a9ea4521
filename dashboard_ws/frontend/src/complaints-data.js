// Civil complaints, the pure part (tested by test/complaints.test.js): the categories, the
// statistics map's value of a district and the heat layer's levels and colours.

export const COMPLAINT_CATEGORIES = [
  "street_light_out", "road_damage", "illegal_dumping", "noise", "suspicious_place",
  "flooding_drain", "fallen_tree", "broken_cctv", "broken_emergency_bell", "other",
];

/** The choropleth's value of a district row: complaints ("total"), still open ("open") or per
 * 10,000 residents ("per_10k"), for one category or all. */
export function complaintValue(row, measure, category) {
  const count = category ? (row.by_category || {})[category] || 0 : row.total;
  if (measure === "per_10k") {
    if (!category) return row.per_10k;
    return row.population > 0 ? Math.round((count * 10000 * 1000) / row.population) / 1000 : 0;
  }
  if (measure === "open") return category ? null : row.open;
  return count;
}

/** Cells with a level 0..1 (count / the largest count); cells with no count are dropped. */
export function cellLevels(cells) {
  const max = Math.max(0, ...cells.map((c) => c.count));
  return cells.filter((c) => c.count > 0).map((c) => ({ h3: c.h3, count: c.count, level: max > 0 ? c.count / max : 0 }));
}

/** A purple scale, apart from the incidents' yellow-red heat. */
export function complaintColour(level) {
  const lo = [218, 218, 235];
  const hi = [84, 39, 143];
  const x = Math.min(Math.max(level, 0), 1);
  const rgb = lo.map((c, k) => Math.round(c + (hi[k] - c) * x));
  return `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;
}
