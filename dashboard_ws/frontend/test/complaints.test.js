import { test } from "node:test";
import assert from "node:assert/strict";
import { COMPLAINT_CATEGORIES, cellLevels, complaintColour, complaintValue } from "../src/complaints-data.js";
import { translate } from "../src/i18n.js";

const row = { district: "4157056000", population: 20000, total: 4, open: 1, per_10k: 2, by_category: { noise: 3, road_damage: 1 } };

test("a district's value: total, open or per 10,000, for all categories or one", () => {
  assert.equal(complaintValue(row, "total", null), 4);
  assert.equal(complaintValue(row, "open", null), 1);
  assert.equal(complaintValue(row, "per_10k", null), 2);
  assert.equal(complaintValue(row, "total", "noise"), 3);
  assert.equal(complaintValue(row, "per_10k", "noise"), 1.5);
  assert.equal(complaintValue(row, "total", "fallen_tree"), 0);
  assert.equal(complaintValue({ ...row, population: 0 }, "per_10k", "noise"), 0);
});

test("cell levels are relative to the busiest cell; empty cells are dropped", () => {
  const cells = cellLevels([{ h3: "a", count: 4 }, { h3: "b", count: 1 }, { h3: "c", count: 0 }]);
  assert.deepEqual(cells.map((c) => [c.h3, c.level]), [["a", 1], ["b", 0.25]]);
  assert.deepEqual(cellLevels([]), []);
});

test("the complaint colours run from pale to deep purple and clamp", () => {
  assert.equal(complaintColour(0), "rgb(218, 218, 235)");
  assert.equal(complaintColour(1), "rgb(84, 39, 143)");
  assert.equal(complaintColour(7), complaintColour(1));
  assert.equal(complaintColour(-1), complaintColour(0));
});

test("every category has a name in both languages", () => {
  assert.equal(COMPLAINT_CATEGORIES.length, 10);
  for (const lang of ["ko", "en"]) {
    for (const c of COMPLAINT_CATEGORIES) {
      const key = "complaint.category." + c;
      assert.notEqual(translate(lang, key), key, `${lang} ${key}`);
    }
  }
});
