import { test } from "node:test";
import assert from "node:assert/strict";
import {
  STALE_AFTER_MS, alertOrder, alertsReducer, backoff, clusterDistricts, connectionReducer, emptyAlerts,
  emptyScores, explaining, flashGate, groupAlerts, initialConnection, scoresAt, scoresReducer,
  topDrivers,
} from "../src/state.js";

const JANGGI = "4157056000";
const SAU = "4157052500";

function update(district, seq, extra = {}) {
  return {
    district, name: district, seq, as_of: `2026-11-25T05:00:0${seq % 10}Z`, reason: "events",
    composite: { value: seq / 10, grade: 1 }, domains: {}, groups: {}, safety: 5,
    delta: { composite: 0.1, safety: 0, domains: {} }, drivers: [], contributors: {}, ...extra,
  };
}

const fireDriver = { event_id: "gimpo-fire:F-1", type: "fire", domain: "fire", contribution: 2.5 };

test("a snapshot replaces every district; a score never steps back", () => {
  let s = scoresReducer(emptyScores(), { type: "snapshot", districts: [update(JANGGI, 5), update(SAU, 3)] });
  assert.deepEqual(Object.keys(s.byCode).sort(), [SAU, JANGGI].sort());
  assert.deepEqual(s.changed.sort(), [SAU, JANGGI].sort());
  const before = s;
  s = scoresReducer(s, { type: "score", update: update(JANGGI, 4) });
  assert.deepEqual(s.changed, []);
  assert.equal(s.byCode[JANGGI].seq, 5);
  assert.equal(before.byCode[JANGGI].seq, 5); // the input is not changed
  s = scoresReducer(s, { type: "score", update: update(JANGGI, 6, { drivers: [fireDriver] }) });
  assert.deepEqual(s.changed, [JANGGI]);
  assert.equal(s.byCode[JANGGI].seq, 6);
  assert.equal(before.byCode[JANGGI].seq, 5);
});

test("the drivers of the latest change survive a tick without drivers, and a reconnect", () => {
  let s = scoresReducer(emptyScores(), { type: "snapshot", districts: [update(JANGGI, 1)] });
  assert.equal(s.lastDrivers[JANGGI], undefined);
  s = scoresReducer(s, { type: "score", update: update(JANGGI, 2, { drivers: [fireDriver] }) });
  s = scoresReducer(s, { type: "score", update: update(JANGGI, 3, { reason: "tick" }) });
  assert.deepEqual(s.lastDrivers[JANGGI].drivers, [fireDriver]);
  assert.equal(s.lastDrivers[JANGGI].seq, 2);
  s = scoresReducer(s, { type: "snapshot", districts: [update(JANGGI, 4)] });
  assert.deepEqual(s.lastDrivers[JANGGI].drivers, [fireDriver]);
  assert.deepEqual(scoresReducer(s, { type: "clear" }), emptyScores());
});

test("what explains a district: contributors first, the biggest first, zeros left out", () => {
  const small = { ...fireDriver, event_id: "x:2", contribution: 0.5 };
  const zero = { ...fireDriver, event_id: "x:3", contribution: 0 };
  assert.deepEqual(topDrivers([small, zero, fireDriver]), [fireDriver, small]);
  assert.deepEqual(explaining(update(JANGGI, 1, { drivers: [small], contributors: { fire: [fireDriver] } })), [fireDriver]);
  assert.deepEqual(explaining(update(JANGGI, 1, { drivers: [small] })), [small]);
});

test("the map at a past moment: full updates, downsampled districts, missing ones", () => {
  const at = scoresAt({
    at: "2026-11-25T05:00:00Z",
    districts: [update(JANGGI, 1, { model_version: "riskmon-index/0.2" })],
    downsampled: [{
      district: SAU, model_version: "riskmon-index/0.1",
      series: {
        composite: { value: 3.9, grade: 2, as_of: "2026-11-25T04:58:00Z" },
        safety: { value: 7.5, grade: null, as_of: "2026-11-25T04:58:00Z" },
        fire: { value: 2.6, grade: 2, as_of: "2026-11-25T04:59:00Z" },
        "group:calamity": { value: 2.6, grade: 2, as_of: "2026-11-25T04:58:00Z" },
      },
    }],
    missing: ["4157025000"],
  });
  assert.deepEqual(at.versions, ["riskmon-index/0.1", "riskmon-index/0.2"]);
  assert.deepEqual(at.missing, ["4157025000"]);
  const sau = at.byCode[SAU];
  assert.equal(sau.downsampled, true);
  assert.deepEqual(sau.composite, { value: 3.9, grade: 2 });
  assert.equal(sau.safety, 7.5);
  assert.deepEqual(sau.domains.fire, { risk: 2.6, grade: 2 });
  assert.deepEqual(sau.groups.calamity, { risk: 2.6, grade: 2 });
  assert.equal(sau.as_of, "2026-11-25T04:59:00Z");
});

function alert(id, extra = {}) {
  return {
    id, seq: 1, district: JANGGI, domain: "fire", rule: "hazard", state: "firing", severity: "Severe",
    opened_at: "2026-11-25T05:00:00Z", fired_at: "2026-11-25T05:00:00Z", cluster: null, ...extra,
  };
}

test("alerts: a snapshot replaces the open ones; resolved ones go; firing ones ring once", () => {
  let s = alertsReducer(emptyAlerts(), { type: "alert", alert: alert("old", { state: "pending" }) });
  s = alertsReducer(s, {
    type: "snapshot",
    alerts: [alert("a"), alert("p", { state: "pending" }), alert("r", { state: "resolved" })],
  });
  assert.deepEqual(Object.keys(s.byId).sort(), ["a", "p"]);
  assert.deepEqual(s.fired, []); // a snapshot does not ring
  s = alertsReducer(s, { type: "alert", alert: alert("b", { seq: 1 }) });
  assert.deepEqual(s.fired, ["b"]);
  s = alertsReducer(s, { type: "alert", alert: alert("b", { seq: 2, state: "acknowledged", acknowledged_by: "kim" }) });
  assert.deepEqual(s.fired, []);
  assert.equal(s.byId.b.acknowledged_by, "kim");
  s = alertsReducer(s, { type: "alert", alert: alert("b", { seq: 1 }) }); // stale: ignored
  assert.equal(s.byId.b.state, "acknowledged");
  s = alertsReducer(s, { type: "alert", alert: alert("b", { seq: 3 }) }); // refired
  assert.deepEqual(s.fired, ["b"]);
  s = alertsReducer(s, { type: "alert", alert: alert("b", { seq: 4, state: "resolved" }) });
  assert.equal(s.byId.b, undefined);
  s = alertsReducer(s, { type: "alert", alert: alert("p", { seq: 2, state: "firing" }) });
  assert.deepEqual(s.fired, ["p"]); // pending -> firing rings
  s = alertsReducer(s, { type: "alert", alert: alert("p", { seq: 3, state: "resolved", fired_at: null }) });
  assert.deepEqual(Object.keys(s.byId), ["a"]);
});

test("alert order: firing, then pending, then acknowledged; newest first; then most severe", () => {
  const list = [
    alert("ack", { state: "acknowledged", severity: "Extreme", fired_at: "2026-11-25T06:00:00Z" }),
    alert("minor", { severity: "Minor" }),
    alert("old", { severity: "Extreme", fired_at: "2026-11-25T04:00:00Z" }),
    alert("new", { severity: "Minor", fired_at: "2026-11-25T05:30:00Z" }),
    alert("severe", { severity: "Extreme" }), // as new as "minor": the more severe first
    alert("pend", { state: "pending", severity: "Extreme", fired_at: null, opened_at: "2026-11-25T07:00:00Z" }),
  ];
  assert.deepEqual([...list].sort(alertOrder).map((a) => a.id), ["new", "severe", "minor", "old", "pend", "ack"]);
});

test("clusters of adjacent districts stay together where their first member stands", () => {
  const list = [
    alert("x", { severity: "Extreme", district: "A" }),
    alert("c1", { severity: "Severe", cluster: "fire:A", district: SAU }),
    alert("y", { severity: "Moderate", district: "B" }),
    alert("c2", { severity: "Minor", cluster: "fire:A", district: JANGGI }),
    alert("lonely", { severity: "Minor", cluster: "fire:Z", district: "C" }),
  ];
  const groups = groupAlerts(list);
  assert.deepEqual(groups.map((g) => [g.cluster, g.alerts.map((a) => a.id)]), [
    [null, ["x"]], ["fire:A", ["c1", "c2"]], [null, ["y"]], [null, ["lonely"]],
  ]);
  assert.deepEqual(clusterDistricts(list), { "fire:A": [SAU, JANGGI].sort() });
});

test("the connection: live, stale without messages, reconnecting, live again", () => {
  let c = initialConnection();
  c = connectionReducer(c, { type: "connect" });
  assert.equal(c.phase, "connecting");
  c = connectionReducer(c, { type: "open", at: 1000 });
  assert.equal(c.phase, "live");
  assert.equal(STALE_AFTER_MS, 30_000); // the rule: no message for 30 s
  c = connectionReducer(c, { type: "tick", at: 30_000, staleAfterMs: STALE_AFTER_MS });
  assert.equal(c.phase, "live");
  c = connectionReducer(c, { type: "tick", at: 31_500, staleAfterMs: STALE_AFTER_MS });
  assert.equal(c.phase, "stale");
  c = connectionReducer(c, { type: "tick", at: 62_000, staleAfterMs: 60_000 });
  assert.equal(c.phase, "stale");
  c = connectionReducer(c, { type: "message", at: 63_000 });
  assert.equal(c.phase, "live");
  c = connectionReducer(c, { type: "close", at: 64_000, retryInMs: 500, why: { key: "why.disconnected" } });
  assert.equal(c.phase, "reconnecting");
  assert.equal(c.retryAt, 64_500);
  c = connectionReducer(c, { type: "connect" });
  assert.equal(c.phase, "reconnecting"); // still not live until the socket opens
  c = connectionReducer(c, { type: "tick", at: 200_000, staleAfterMs: 60_000 });
  assert.equal(c.phase, "reconnecting");
  c = connectionReducer(c, { type: "open", at: 65_000 });
  assert.equal(c.phase, "live");
  assert.deepEqual(connectionReducer(c, { type: "signed_out" }), initialConnection());
});

test("reconnect backoff doubles to a ceiling, with jitter", () => {
  const half = () => 0.5;
  assert.deepEqual(backoff(0, { random: half }), { base: 500, wait: 500 });
  assert.deepEqual(backoff(500, { random: half }), { base: 1000, wait: 1000 });
  assert.equal(backoff(12_000, { random: half }).base, 15_000);
  assert.equal(backoff(15_000, { random: () => 0 }).wait, 7_500);
});

test("flashes: at most one per district per second", () => {
  let [may, last] = flashGate(undefined, 1000);
  assert.equal(may, true);
  [may, last] = flashGate(last, 1500);
  assert.equal(may, false);
  assert.equal(last, 1000);
  [may, last] = flashGate(last, 2000);
  assert.equal(may, true);
  assert.equal(last, 2000);
});

test("a coalesced scores message applies the newest state of every district it carries", () => {
  const start = scoresReducer(emptyScores(), { type: "snapshot", districts: [update(JANGGI, 5), update(SAU, 3)] });
  const other = "4157025000";
  const s = scoresReducer(start, {
    type: "scores",
    districts: [
      update(other, 1),
      update(SAU, 9, { drivers: [fireDriver] }),
      update(JANGGI, 4), // older than the held one: ignored
    ],
  });
  assert.deepEqual(s.changed, [other, SAU]);
  assert.equal(s.byCode[SAU].seq, 9);
  assert.equal(s.byCode[JANGGI].seq, 5);
  assert.equal(s.byCode[other].seq, 1);
  assert.deepEqual(s.lastDrivers[SAU].drivers, [fireDriver]);
  assert.equal(start.byCode[SAU].seq, 3); // the input is not changed
  assert.equal(start.byCode[other], undefined);
});

test("a scores message that changes nothing keeps the state and says so", () => {
  const start = scoresReducer(emptyScores(), { type: "snapshot", districts: [update(JANGGI, 5)] });
  const s = scoresReducer(start, { type: "scores", districts: [update(JANGGI, 5), update(JANGGI, 2)] });
  assert.deepEqual(s.changed, []);
  assert.equal(s.byCode, start.byCode);
  assert.deepEqual(scoresReducer(start, { type: "scores", districts: [] }).changed, []);
});

test("a burst coalesced into a few messages ends on the same state as one update at a time", () => {
  const codes = Array.from({ length: 14 }, (_, i) => `41570${String(25000 + i).padStart(5, "0")}`);
  const updates = Array.from({ length: 1000 }, (_, n) => update(codes[n % 14], n + 1));
  let one = emptyScores();
  for (const u of updates) one = scoresReducer(one, { type: "score", update: u });
  let coalesced = emptyScores();
  for (let i = 0; i < updates.length; i += 150) {
    const newest = {};
    for (const u of updates.slice(i, i + 150)) newest[u.district] = u; // what the gateway keeps
    const districts = Object.values(newest).sort((a, b) => a.district.localeCompare(b.district));
    coalesced = scoresReducer(coalesced, { type: "scores", districts });
  }
  assert.deepEqual(coalesced.byCode, one.byCode);
  assert.equal(Object.keys(coalesced.byCode).length, 14);
});
