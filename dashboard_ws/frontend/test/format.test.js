import { test } from "node:test";
import assert from "node:assert/strict";
import {
  age, clock, dateTime, fixed, fromInputValue, offsetLabel, offsetMinutes, percent, rfc3339,
  shortTime, signed, toInputValue, integer,
} from "../src/format.js";

const SEOUL = "Asia/Seoul";

test("times are shown in the city's time zone, whatever the browser's", () => {
  const t = "2026-11-25T05:05:03Z";
  assert.equal(dateTime(t, SEOUL), "2026-11-25 14:05:03");
  assert.equal(dateTime(t, "UTC"), "2026-11-25 05:05:03");
  assert.equal(dateTime(t, SEOUL, { seconds: false }), "2026-11-25 14:05");
  assert.equal(clock("2026-11-25T15:00:00Z", SEOUL), "00:00:00"); // midnight is 00, not 24
  assert.equal(dateTime(null, SEOUL), "—");
  assert.equal(dateTime("not a time", SEOUL), "—");
});

test("shortTime: a clock for today, a date for older times", () => {
  const now = new Date("2026-11-25T06:00:00Z");
  assert.equal(shortTime("2026-11-25T05:05:03Z", SEOUL, now), "14:05:03");
  assert.equal(shortTime("2026-11-23T05:05:03Z", SEOUL, now), "2026-11-23 14:05");
});

test("offsets of the city, with daylight saving where it has it", () => {
  assert.equal(offsetMinutes("2026-11-25T05:05:03Z", SEOUL), 540);
  assert.equal(offsetLabel(540), "+09:00");
  assert.equal(offsetLabel(-270), "-04:30");
  assert.equal(offsetMinutes("2026-07-01T12:00:00Z", "Europe/Berlin"), 120);
  assert.equal(offsetMinutes("2026-01-01T12:00:00Z", "Europe/Berlin"), 60);
});

test("the time picker's wall-clock value round-trips through the city's zone", () => {
  const at = fromInputValue("2026-11-25T14:05:03", SEOUL);
  assert.equal(at.toISOString(), "2026-11-25T05:05:03.000Z");
  assert.equal(toInputValue(at, SEOUL), "2026-11-25T14:05:03");
  assert.equal(fromInputValue("2026-11-25T14:05", SEOUL).toISOString(), "2026-11-25T05:05:00.000Z");
  // across a daylight-saving change (Berlin, 2026-03-29 02:00 -> 03:00)
  assert.equal(fromInputValue("2026-03-29T12:00:00", "Europe/Berlin").toISOString(), "2026-03-29T10:00:00.000Z");
  assert.equal(fromInputValue("2026-03-28T12:00:00", "Europe/Berlin").toISOString(), "2026-03-28T11:00:00.000Z");
  for (const bad of ["", "yesterday", "2026-13-01T00:00", "2026-11-25 14:05"]) {
    assert.equal(fromInputValue(bad, SEOUL), null, bad);
  }
});

test("rfc3339 is what the history API takes", () => {
  assert.equal(rfc3339(new Date("2026-11-25T05:05:03.456Z")), "2026-11-25T05:05:03Z");
  assert.equal(rfc3339(Date.UTC(2026, 0, 2)), "2026-01-02T00:00:00Z");
});

test("numbers", () => {
  assert.equal(fixed(4), "4.00");
  assert.equal(fixed(null), "—");
  assert.equal(fixed(1.005, 1), "1.0");
  assert.equal(signed(1.2), "+1.20");
  assert.equal(signed(-0.4), "-0.40");
  assert.equal(signed(0), "0.00");
  assert.equal(signed(-0.001), "0.00"); // no "-0.00"
  assert.equal(signed(0.001), "0.00");
  assert.equal(percent(0.874), "87%");
  assert.equal(integer(61023, "ko"), "61,023");
  assert.deepEqual(age(42), { n: 42, unit: "s" });
  assert.deepEqual(age(150), { n: 2, unit: "min" });
  assert.deepEqual(age(7300), { n: 2, unit: "h" });
  assert.deepEqual(age(200000), { n: 2, unit: "d" });
});
