import { test } from "node:test";
import assert from "node:assert/strict";
import { approvalBody, canWarn, draftKind } from "../src/capout.js";

const SEOUL = "Asia/Seoul";
const DRAFT = {
  alert_id: "a-1",
  identifier: "riskmon-a-1-1",
  msg_type: "Alert",
  all_clear: false,
  headline: { ko: "장기동 화재 위험 경보", en: "Fire risk alert: Janggi-dong" },
  description: { ko: "지수 7.0", en: "index 7.0" },
  instruction: { ko: null, en: null },
  expires: "2026-11-24T15:00:00Z", // 2026-11-25 00:00 in Seoul
};

function unchanged() {
  return {
    headline: { ...DRAFT.headline },
    description: { ...DRAFT.description },
    instruction: { ko: "", en: "" },
    expires: "2026-11-25T00:00",
  };
}

test("an untouched draft is approved as riskmon wrote it", () => {
  assert.deepEqual(approvalBody(DRAFT, unchanged(), SEOUL), { alert: "a-1", identifier: "riskmon-a-1-1" });
});

test("only the texts the operator changed are sent, trimmed; an emptied one as empty", () => {
  const values = unchanged();
  values.headline.en = "  Fire warning: Janggi-dong ";
  values.instruction.ko = "창문을 닫으십시오";
  values.description.en = "";
  assert.deepEqual(approvalBody(DRAFT, values, SEOUL), {
    alert: "a-1",
    identifier: "riskmon-a-1-1",
    headline: { en: "Fire warning: Janggi-dong" },
    instruction: { ko: "창문을 닫으십시오" },
    description: { en: "" },
  });
});

test("a changed expiry is read in the city's time zone and sent with its offset", () => {
  const values = unchanged();
  values.expires = "2026-11-25T03:30";
  assert.equal(approvalBody(DRAFT, values, SEOUL).expires, "2026-11-24T18:30:00Z");
  values.expires = "not a time";
  assert.equal(approvalBody(DRAFT, values, SEOUL).expires, undefined);
});

test("who may warn from which alert, and the kind of the draft", () => {
  const may = (right) => right === "cap.publish";
  assert.equal(canWarn({ state: "firing" }, may, false), true);
  assert.equal(canWarn({ state: "acknowledged" }, may, false), true);
  assert.equal(canWarn({ state: "pending" }, may, false), false);
  assert.equal(canWarn({ state: "firing" }, may, true), false); // a kiosk wall
  assert.equal(canWarn({ state: "firing" }, () => false, false), false);
  assert.equal(draftKind(DRAFT), "Alert");
  assert.equal(draftKind({ ...DRAFT, msg_type: "Update", all_clear: true }), "all_clear");
});
