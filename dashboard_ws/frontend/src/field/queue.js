// The field page's outbox, pure: reports made on the phone wait here until the gateway has them.
// Every function takes the queue (an array of entries, oldest first) and returns a new one; the
// clock (`now`, milliseconds) is an argument. Tested by test/field-queue.test.js; kept in
// IndexedDB by db.js, so a report survives a reload or a closed browser while offline.
//
// An entry: {id, createdAt, state, attempts, nextAt, report, result, detail}
//   id        the client-made report id (crypto.randomUUID()): a resend of the same report is
//             recognised by the gateway, which answers the earlier result; the fact is
//             published once
//   state     "queued"  waiting to be sent (offline, or not tried yet)
//             "sending" on its way now
//             "retry"   the gateway or the network failed; tried again at nextAt
//             "signin"  the session ended: sent again once signed in
//             "sent"    the gateway has it (result: its answer)
//             "refused" the gateway refused it for good (detail says why); kept for the record

export const STATES = ["queued", "sending", "retry", "signin", "sent", "refused"];
export const BACKOFF_MIN_MS = 2_000;
export const BACKOFF_MAX_MS = 5 * 60_000;
export const KEEP_SENT = 20; // sent and refused entries shown before the oldest are dropped

/** A new entry for `report` (the body to POST, which carries report_id === id). */
export function enqueue(queue, report, now) {
  if (!report || typeof report.report_id !== "string") throw new Error("a report needs a report_id");
  if (queue.some((e) => e.id === report.report_id)) return queue;
  const entry = {
    id: report.report_id,
    createdAt: now,
    state: "queued",
    attempts: 0,
    nextAt: now,
    report,
    result: null,
    detail: null,
  };
  return trim([...queue, entry]);
}

/** The delay before attempt `attempts` + 1: doubling from BACKOFF_MIN_MS up to BACKOFF_MAX_MS,
 * with `jitter` in [0, 1) spreading the phones of a crew that come back online together. */
export function backoff(attempts, jitter = 0) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (1 + 0.25 * jitter));
}

/** The entry to send now, or null: the oldest one waiting whose time has come, when online and
 * nothing is being sent (one at a time: a slow link is not flooded with photos). */
export function next(queue, now, online) {
  if (!online || queue.some((e) => e.state === "sending")) return null;
  return queue.find((e) => (e.state === "queued" || e.state === "retry") && e.nextAt <= now) || null;
}

/** When the next retry is due (ms), or null when nothing waits for a time. */
export function nextWake(queue) {
  const times = queue.filter((e) => e.state === "retry").map((e) => e.nextAt);
  return times.length ? Math.min(...times) : null;
}

export function sending(queue, id) {
  return queue.map((e) => (e.id === id ? { ...e, state: "sending", attempts: e.attempts + 1 } : e));
}

/**
 * What an attempt's outcome makes of the entry. `outcome` is {status, body} from the gateway
 * ({status: 0} for a network failure, e.g. offline).
 *   200/201      sent (200: the gateway had it already: same fact, published once)
 *   401          signin: kept, sent again after signing in (nextAt = now)
 *   408/429/5xx/0  retry after backoff
 *   other 4xx    refused: the report itself is wrong; sending it again cannot help
 */
export function settle(queue, id, outcome, now, jitter = 0) {
  return trim(
    queue.map((e) => {
      if (e.id !== id) return e;
      const status = outcome.status;
      if (status === 200 || status === 201) {
        return { ...e, state: "sent", result: outcome.body || null, detail: null, report: stripPhotos(e.report) };
      }
      if (status === 401) return { ...e, state: "signin", nextAt: now, detail: outcome.detail || null };
      if (status === 0 || status === 408 || status === 429 || status >= 500) {
        return { ...e, state: "retry", nextAt: now + backoff(e.attempts, jitter), detail: outcome.detail || null };
      }
      return { ...e, state: "refused", detail: outcome.detail || String(status), report: stripPhotos(e.report) };
    }),
  );
}

/** After a reload, an entry left "sending" (the page closed mid-request) is sent again: the
 * gateway answers the earlier result if it had arrived. After signing in, "signin" ones too. */
export function resume(queue, now) {
  return queue.map((e) => (e.state === "sending" || e.state === "signin" ? { ...e, state: "retry", nextAt: now } : e));
}

/** The connection came back: whatever waits is due now (no need to sit out the backoff). */
export function online(queue, now) {
  return queue.map((e) => (e.state === "retry" ? { ...e, nextAt: Math.min(e.nextAt, now) } : e));
}

/** Counts per state, for the page's summary line. */
export function counts(queue) {
  const out = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const e of queue) out[e.state] += 1;
  return out;
}

/** Reports not yet with the gateway (what closing the page while offline would leave behind). */
export function pending(queue) {
  return queue.filter((e) => e.state !== "sent" && e.state !== "refused").length;
}

function stripPhotos(report) {
  // a sent report keeps its summary on the phone, not its photos (storage is small)
  if (!report || !report.photos || !report.photos.length) return report;
  return { ...report, photos: [], photoCount: report.photos.length };
}

function trim(queue) {
  const done = queue.filter((e) => e.state === "sent" || e.state === "refused");
  if (done.length <= KEEP_SENT) return queue;
  const drop = new Set(done.slice(0, done.length - KEEP_SENT).map((e) => e.id));
  return queue.filter((e) => !drop.has(e.id));
}
