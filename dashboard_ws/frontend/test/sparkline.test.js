import { test } from "node:test";
import assert from "node:assert/strict";
import { sparkline, yOfValue } from "../src/sparkline.js";

test("a sparkline on the fixed 0-10 scale, with gaps where nothing was known", () => {
  const points = [
    { t: "a", value: null }, { t: "b", value: 0 }, { t: "c", value: 10 }, { t: "d", value: null },
    { t: "e", value: 5 },
  ];
  const s = sparkline(points, { width: 100, height: 20, pad: 0 });
  assert.equal(s.d, "M25.0 20.0L50.0 0.0M100.0 10.0");
  assert.deepEqual([s.min, s.max, s.last, s.count], [0, 10, 5, 3]);
});

test("nothing to draw; one point; out-of-scale values clamp", () => {
  assert.deepEqual(sparkline([{ value: null }]), { d: "", min: null, max: null, last: null, count: 0 });
  assert.equal(sparkline([{ value: 12 }], { width: 10, height: 10, pad: 0 }).d, "M5.0 0.0");
  assert.equal(yOfValue(-1, { height: 10, pad: 0 }), 10);
});
