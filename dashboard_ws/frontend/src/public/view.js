// What the public page shows of GET /open/districts.geojson, as plain data (pure: no DOM;
// tested by test/public.test.js). The document carries grades only (docs/public.md).
import { dateTime } from "../format.js";
import { LAYERS, t } from "./strings.js";

export const DEFAULT_ZONE = "Asia/Seoul";

/** A grade 1-5, or null for anything else (a withheld or unknown district). */
export function gradeOf(value) {
  return Number.isInteger(value) && value >= 1 && value <= 5 ? value : null;
}

/** The word of `grade` on `layer`: safety runs from "very good" (1), risks from "very low". */
export function gradeWord(lang, layer, grade) {
  const g = gradeOf(grade);
  if (g === null) return t(lang, "grade.none");
  return t(lang, (layer === "safety" ? "safety." : "risk.") + g);
}

/** "3등급 보통" / "grade 3, moderate"; the reason there is none otherwise. */
export function gradeText(lang, layer, grade, withheld = false) {
  if (withheld) return t(lang, "grade.withheld");
  const g = gradeOf(grade);
  if (g === null) return t(lang, "grade.none");
  return t(lang, "grade_value", { grade: g, word: gradeWord(lang, layer, g) });
}

/** A district's name in `lang` (Korean names for Korean, romanized for English). */
export function nameOf(props, lang) {
  if (lang === "en" && props.name_en) return props.name_en;
  return props.name_ko || props.name_en || String(props.code || "");
}

/** The districts as rows: {code, name, withheld, grades: {layer: 1-5|null}}, sorted by name. */
export function districtRows(doc, lang) {
  const features = (doc && Array.isArray(doc.features) && doc.features) || [];
  const rows = features.map((f) => {
    const props = f.properties || {};
    const grades = {};
    for (const layer of LAYERS) grades[layer] = gradeOf(props.grades && props.grades[layer]);
    return { code: String(props.code || f.id), name: nameOf(props, lang), withheld: props.withheld === true, grades };
  });
  return rows.sort((a, b) => a.name.localeCompare(b.name, lang));
}

/** The "as of" line and the note under it, in the city's time zone. */
export function asOfLines(doc, lang) {
  const zone = (doc && doc.timezone) || DEFAULT_ZONE;
  if (!doc || !doc.as_of) return { asOf: "", note: "" };
  return {
    asOf: t(lang, "as_of", { time: dateTime(doc.as_of, zone, { seconds: false }) }),
    note: t(lang, "as_of_note", { next: dateTime(doc.next_update_at, zone, { seconds: false }) }),
  };
}

/** What a screen reader says of a district's shape on the map. */
export function pathLabel(lang, row, layer) {
  const value = gradeText(lang, layer, row.grades[layer], row.withheld);
  return t(lang, "path_label", { name: row.name, layer: t(lang, "layer." + layer), value });
}

/** The boundary data's credit lines (attribution, licence, approximate), as the city gives them. */
export function creditLines(doc, lang) {
  const b = (doc && doc.boundaries) || {};
  const lines = [];
  if (b.attribution) lines.push(t(lang, "boundaries", { attribution: b.attribution }));
  if (b.license) lines.push(t(lang, "boundaries.licence", { license: b.license }));
  if (b.approximate) lines.push(t(lang, "boundaries.approximate"));
  return lines;
}

/** The page's language: ?lang=, else the one chosen before, else Korean (the city's). */
export function chooseLang(param, saved) {
  for (const candidate of [param, saved]) {
    const base = String(candidate || "").toLowerCase().split(/[-_]/)[0];
    if (base === "ko" || base === "en") return base;
  }
  return "ko";
}
