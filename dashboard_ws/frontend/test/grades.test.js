import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CLASS_COLOURS, GRADE_COLOURS, NO_DATA_COLOUR, classBreaks, classColour, classOf, classRanges,
  contrast, gradeOf,
  heatColour, layerKeys, layerValue, legendBands, safetyGrade,
} from "../src/grades.js";

const update = {
  composite: { value: 4.0, grade: 3 },
  safety: 8.95,
  domains: { fire: { risk: 2.78, grade: 2 }, flood_weather: { risk: 3.86, grade: 3 } },
  groups: { natural: { risk: 3.86, grade: 3 }, calamity: { risk: 2.78, grade: 2 } },
};

test("grades follow the model's cuts (indices.formulas.grade)", () => {
  assert.deepEqual([0, 1.99, 2.0, 4.9, 6.5, 10].map((v) => gradeOf(v)), [1, 1, 2, 3, 5, 5]);
  assert.equal(gradeOf(null), null);
  assert.equal(safetyGrade(9), 1); // very safe
  assert.equal(safetyGrade(8.0), 2); // 10 - 8 = 2.0: grade 2
  assert.equal(safetyGrade(2), 5);
});

test("what each layer shows of a district", () => {
  assert.deepEqual(layerValue(update, "composite"), { value: 4.0, grade: 3 });
  assert.deepEqual(layerValue(update, "fire"), { value: 2.78, grade: 2 });
  assert.deepEqual(layerValue(update, "group:natural"), { value: 3.86, grade: 3 });
  assert.deepEqual(layerValue(update, "safety"), { value: 8.95, grade: 1 });
  assert.deepEqual(layerValue(update, "crime"), { value: null, grade: null });
  assert.deepEqual(layerValue(update, "group:crime"), { value: null, grade: null });
  assert.deepEqual(layerValue(undefined, "composite"), { value: null, grade: null });
  assert.deepEqual(layerKeys().slice(0, 4), ["composite", "group:natural", "group:calamity", "group:crime"]);
  assert.equal(layerKeys().at(-1), "safety");
});

test("legend bands: risk from 0 up, safety the other way", () => {
  const risk = legendBands("composite");
  assert.deepEqual(risk[0], { grade: 1, from: 0, to: 2 });
  assert.deepEqual(risk[4], { grade: 5, from: 6.5, to: 10 });
  const safety = legendBands("safety");
  assert.deepEqual(safety[0], { grade: 1, from: 8, to: 10 });
  assert.deepEqual(safety[4], { grade: 5, from: 0, to: 3.5 });
  const city = [1, 3, 5, 7]; // a city's own cuts (GET /api/city grade_cuts)
  assert.deepEqual(legendBands("composite", city)[1], { grade: 2, from: 1, to: 3 });
  assert.deepEqual(layerValue({ safety: 8.5 }, "safety", city), { value: 8.5, grade: 2 });
  assert.deepEqual(layerValue({ safety: 8.5 }, "safety"), { value: 8.5, grade: 1 });
  assert.deepEqual(layerValue({ safety: 3.5 }, "safety", city), { value: 3.5, grade: 4 });
  assert.deepEqual(layerValue({ safety: 3.5 }, "safety"), { value: 3.5, grade: 5 });
  assert.deepEqual(layerValue({ safety: 2.5 }, "safety", city), { value: 2.5, grade: 5 });
  assert.deepEqual(layerValue({ safety: 2.5 }, "safety"), { value: 2.5, grade: 5 });
});

test("every grade colour carries its text at WCAG AA (4.5:1)", () => {
  for (const [grade, c] of Object.entries({ ...GRADE_COLOURS, 0: NO_DATA_COLOUR })) {
    assert.ok(contrast(c.fill, c.text) >= 4.5, `grade ${grade}: ${contrast(c.fill, c.text).toFixed(2)}`);
  }
  assert.equal(CLASS_COLOURS.length, 5);
  assert.equal(contrast("#000000", "#ffffff").toFixed(0), "21");
});

test("statistics classes: equal widths up to the largest value", () => {
  assert.deepEqual(classBreaks([0, 0]), []);
  assert.deepEqual(classBreaks([0, 5, 10]), [2, 4, 6, 8, 10]);
  const breaks = classBreaks([0, 5, 10]);
  assert.deepEqual([0, 0.5, 2, 2.1, 10, 12].map((v) => classOf(v, breaks)), [0, 1, 1, 2, 5, 5]);
  assert.equal(classOf(3, []), 0);
  assert.deepEqual(classBreaks([0, 1, 1], 5, { integers: true }), [1]);
  assert.deepEqual(classBreaks([0, 3], 5, { integers: true }), [1, 2, 3]);
  assert.deepEqual(classBreaks([7], 5, { integers: true }), [2, 4, 6, 7]);
  assert.deepEqual(classBreaks([10], 5, { integers: true }), [2, 4, 6, 8, 10]);
  assert.deepEqual(classRanges([2, 4, 6, 7], { integers: true }), [[1, 2], [3, 4], [5, 6], [7, 7]]);
  assert.deepEqual(classRanges([0.5, 1]), [[0, 0.5], [0.5, 1]]);
  assert.deepEqual([0, 1].map((c) => classColour(c, 1)), [0, 5]);
  assert.deepEqual([1, 2, 3, 4].map((c) => classColour(c, 4)), [2, 3, 4, 5]);
  assert.deepEqual([1, 2, 3, 4, 5].map((c) => classColour(c, 5)), [1, 2, 3, 4, 5]);
});

test("heat colours run from pale yellow to dark red", () => {
  assert.equal(heatColour(0), "#ffeda0");
  assert.equal(heatColour(1), "#bd0026");
  assert.equal(heatColour(2), "#bd0026");
  assert.match(heatColour(0.5), /^#fd8d3c$/);
});
