import { test } from "node:test";
import assert from "node:assert/strict";
import {
  WHATIF_FACILITIES, WHATIF_MAX_COUNT, changeText, mapValue, rankedRows, whatifCount, whatifParams,
} from "../src/whatif-data.js";

test("the count is a whole number from 1 to the gateway's limit", () => {
  assert.deepEqual(["1", " 7 ", "100"].map(whatifCount), [1, 7, 100]);
  for (const bad of ["0", "101", "-1", "1.5", "1e2", "", "abc", null, "0100"]) {
    assert.equal(whatifCount(bad), null, String(bad));
  }
  assert.equal(WHATIF_MAX_COUNT, 100);
});

test("parameters only for a known facility and a valid count", () => {
  assert.deepEqual(whatifParams({ change: "cctv", count: "3", by: "risk" }), { change: "cctv", count: "3", by: "risk" });
  assert.deepEqual(whatifParams({ change: "police_box", count: 1, by: "safety" }).by, "safety");
  assert.equal(whatifParams({ change: "cctv", count: "3", by: "cost" }).by, "risk");
  assert.equal(whatifParams({ change: "helipad", count: "1" }), null);
  assert.equal(whatifParams({ change: "inspection", count: "1" }), null); // needs a structure
  assert.equal(whatifParams({ change: "cctv", count: "500" }), null);
  assert.equal(WHATIF_FACILITIES.length, 8);
});

test("rows in rank order and the map's value by the ranking", () => {
  const answer = {
    districts: [
      { rank: 2, district: "b", risk_reduction_per_item: 0.1, safety_gain_per_item: 0.9 },
      { rank: 1, district: "a", risk_reduction_per_item: 0.2, safety_gain_per_item: 0.3 },
    ],
  };
  assert.deepEqual(rankedRows(answer).map((r) => r.district), ["a", "b"]);
  assert.deepEqual(rankedRows(null), []);
  assert.equal(mapValue(answer.districts[0], "risk"), 0.1);
  assert.equal(mapValue(answer.districts[0], "safety"), 0.9);
});

test("small changes stay visible", () => {
  assert.equal(changeText(0.0013037), "0.0013");
  assert.equal(changeText(0.000073), "0.0000730");
  assert.equal(changeText(-0.25), "-0.2500");
  assert.equal(changeText(0.25, { sign: true }), "+0.2500");
  assert.equal(changeText(0), "0");
  assert.equal(changeText(null), "—");
});
