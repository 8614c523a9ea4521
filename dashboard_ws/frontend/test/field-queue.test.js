// The field page's outbox (src/field/queue.js) and its strings (src/field/strings.js).
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import * as q from "../src/field/queue.js";
import { FIELD_STRINGS, t, distanceText } from "../src/field/strings.js";

const report = (id, extra = {}) => ({ report_id: id, kind: "inspection", structure_id: "B-1", grade: "D", photos: [], ...extra });

test("a report is queued once per id, oldest first", () => {
  let queue = q.enqueue([], report("a"), 1000);
  queue = q.enqueue(queue, report("b"), 2000);
  queue = q.enqueue(queue, report("a"), 3000); // the same report again: no second entry
  assert.deepEqual(queue.map((e) => [e.id, e.state, e.createdAt]), [["a", "queued", 1000], ["b", "queued", 2000]]);
  assert.throws(() => q.enqueue(queue, { kind: "inspection" }, 0), /report_id/);
});

test("nothing is sent while offline; online, the oldest goes first, one at a time", () => {
  let queue = q.enqueue(q.enqueue([], report("a"), 0), report("b"), 1);
  assert.equal(q.next(queue, 10, false), null);
  assert.equal(q.next(queue, 10, true).id, "a");
  queue = q.sending(queue, "a");
  assert.equal(queue[0].attempts, 1);
  assert.equal(q.next(queue, 10, true), null, "one request at a time");
});

test("a network failure waits with a doubling backoff; coming online makes it due at once", () => {
  let queue = q.sending(q.enqueue([], report("a"), 0), "a");
  queue = q.settle(queue, "a", { status: 0 }, 100);
  assert.equal(queue[0].state, "retry");
  assert.equal(queue[0].nextAt, 100 + q.BACKOFF_MIN_MS);
  assert.equal(q.next(queue, 101, true), null, "not before its time");
  assert.equal(q.nextWake(queue), 100 + q.BACKOFF_MIN_MS);
  queue = q.settle(q.sending(queue, "a"), "a", { status: 503, detail: "broker" }, 5000);
  assert.equal(queue[0].nextAt, 5000 + 2 * q.BACKOFF_MIN_MS);
  assert.equal(queue[0].detail, "broker");
  queue = q.online(queue, 6000);
  assert.equal(q.next(queue, 6000, true).id, "a");
});

test("backoff doubles up to its ceiling, jitter adds at most a quarter", () => {
  assert.deepEqual([1, 2, 3].map((n) => q.backoff(n)), [2000, 4000, 8000]);
  assert.equal(q.backoff(40), q.BACKOFF_MAX_MS);
  assert.equal(q.backoff(1, 0.999), Math.round(2000 * 1.24975));
});

test("200 and 201 are sent (photos dropped from the phone), 4xx refused, 401 waits for sign-in", () => {
  let queue = ["a", "b", "c", "d"].reduce((acc, id, i) => q.enqueue(acc, report(id, { photos: [{ data: "AAAA" }] }), i), []);
  queue = q.settle(q.sending(queue, "a"), "a", { status: 201, body: { fact_id: "kim:a", source: "x" } }, 10);
  queue = q.settle(q.sending(queue, "b"), "b", { status: 200, body: { fact_id: "kim:b", duplicate: true } }, 10);
  queue = q.settle(q.sending(queue, "c"), "c", { status: 413, detail: "too large" }, 10);
  queue = q.settle(q.sending(queue, "d"), "d", { status: 401 }, 10);
  assert.deepEqual(queue.map((e) => e.state), ["sent", "sent", "refused", "signin"]);
  assert.equal(queue[0].result.fact_id, "kim:a");
  assert.deepEqual(queue[0].report.photos, []);
  assert.equal(queue[0].report.photoCount, 1);
  assert.equal(queue[2].detail, "too large");
  assert.equal(queue[3].report.photos.length, 1, "a report not yet sent keeps its photos");
  assert.equal(q.next(queue, 10, true), null, "nothing is due until signed in");
  queue = q.resume(queue, 20);
  assert.equal(q.next(queue, 20, true).id, "d");
  assert.equal(q.pending(queue), 1);
  assert.deepEqual(q.counts(queue), { queued: 0, sending: 0, retry: 1, signin: 0, sent: 2, refused: 1 });
});

test("429 and 408 are retried, not refused", () => {
  for (const status of [408, 429, 500, 502]) {
    const queue = q.settle(q.sending(q.enqueue([], report("a"), 0), "a"), "a", { status }, 0);
    assert.equal(queue[0].state, "retry", String(status));
  }
});

test("a report left sending by a closed page is sent again after a reload", () => {
  const queue = q.resume(q.sending(q.enqueue([], report("a"), 0), "a"), 50);
  assert.equal(queue[0].state, "retry");
  assert.equal(q.next(queue, 50, true).id, "a");
});

test("only the newest sent and refused entries are kept; waiting ones never dropped", () => {
  let queue = q.enqueue([], report("waiting"), 0);
  for (let i = 0; i < q.KEEP_SENT + 5; i += 1) {
    const id = `r${String(i).padStart(3, "0")}`;
    queue = q.settle(q.sending(q.enqueue(queue, report(id), i + 1), id), id, { status: 201, body: {} }, i + 1);
  }
  assert.equal(queue.length, q.KEEP_SENT + 1);
  assert.equal(queue[0].id, "waiting");
  assert.equal(queue[1].id, "r005");
});

test("the field strings: both languages have the same keys and placeholders", () => {
  const holes = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort().join(",");
  assert.deepEqual(Object.keys(FIELD_STRINGS.ko).sort(), Object.keys(FIELD_STRINGS.en).sort());
  for (const key of Object.keys(FIELD_STRINGS.en)) assert.equal(holes(FIELD_STRINGS.ko[key]), holes(FIELD_STRINGS.en[key]), key);
  assert.equal(t("ko", "state.refused", { detail: "x" }), "거부됨: x");
  assert.equal(t("en", "nope"), "nope");
  assert.equal(distanceText("en", 881.4), "881 m");
  assert.equal(distanceText("ko", 1500), "1.5 km");
});

test("every key the field page uses is translated", () => {
  const used = new Set();
  const src = new URL("../src/field/", import.meta.url);
  for (const name of readdirSync(src).filter((n) => n.endsWith(".js"))) {
    const text = readFileSync(new URL(name, src), "utf8");
    for (const m of text.matchAll(/\bt\(lang,\s*"([a-z_.0-9A-Z]+)"/g)) if (!m[1].endsWith(".")) used.add(m[1]); // "x." + name: a prefix
  }
  const html = readFileSync(new URL("../../static/field.html", import.meta.url), "utf8");
  for (const m of html.matchAll(/data-i18n(?:-label)?="([^"]+)"/g)) used.add(m[1]);
  assert.ok(used.size > 40, `found only ${used.size} keys`);
  for (const key of used) assert.ok(key in FIELD_STRINGS.en && key in FIELD_STRINGS.ko, `untranslated: ${key}`);
});
