// The public page's pure parts: its strings in both languages, and what it shows of the open
// GeoJSON (grades only, names, the hour in the city's zone).
import { test } from "node:test";
import assert from "node:assert/strict";
import { LAYERS, STRINGS, t } from "../src/public/strings.js";
import { asOfLines, chooseLang, creditLines, districtRows, gradeOf, gradeText, gradeWord, pathLabel } from "../src/public/view.js";

const DOC = {
  type: "FeatureCollection",
  as_of: "2026-12-05T04:00:00Z",
  next_update_at: "2026-12-05T06:00:00Z",
  timezone: "Asia/Seoul",
  boundaries: { attribution: "Statistics Korea SGIS", license: "KOGL Type 1", approximate: false },
  features: [
    { type: "Feature", id: "4157056000", properties: { code: "4157056000", name_ko: "장기동", name_en: "Janggi-dong", withheld: false,
      grades: { overall: 4, safety: 2, natural: 1, calamity: 4, crime: 2 } } },
    { type: "Feature", id: "4157025000", properties: { code: "4157025000", name_ko: "통진읍", name_en: "Tongjin-eup", withheld: false,
      grades: { overall: null, safety: null, natural: null, calamity: null, crime: null } } },
    { type: "Feature", id: "4157051500", properties: { code: "4157051500", name_ko: "김포본동", name_en: "Gimpobon-dong", withheld: true,
      grades: { overall: null, safety: null, natural: null, calamity: null, crime: null } } },
  ],
};

test("both languages have every string, and no placeholder is left unfilled", () => {
  assert.deepEqual(Object.keys(STRINGS.ko).sort(), Object.keys(STRINGS.en).sort());
  for (const lang of ["ko", "en"]) {
    for (const layer of LAYERS) assert.ok(STRINGS[lang]["layer." + layer] && STRINGS[lang]["layer." + layer + ".long"]);
    for (const g of [1, 2, 3, 4, 5]) assert.ok(STRINGS[lang]["risk." + g] && STRINGS[lang]["safety." + g]);
  }
  assert.equal(t("ko", "as_of", { time: "2026-12-05 13:00" }), "2026-12-05 13:00 기준");
  assert.equal(t("fr", "title"), STRINGS.en.title);
  assert.equal(t("ko", "no.such.key"), "no.such.key");
});

test("grades are 1-5 or nothing; safety has its own words", () => {
  assert.deepEqual([0, 1, 5, 6, 2.5, null, "3"].map(gradeOf), [null, 1, 5, null, null, null, null]);
  assert.equal(gradeWord("ko", "overall", 5), "매우 높음");
  assert.equal(gradeWord("ko", "safety", 1), "매우 좋음");
  assert.equal(gradeWord("en", "crime", 2), "low");
  assert.equal(gradeText("ko", "overall", 4), "4등급 높음");
  assert.equal(gradeText("en", "safety", 5), "grade 5, very weak");
  assert.equal(gradeText("ko", "overall", null), "정보 없음");
  assert.equal(gradeText("en", "overall", 3, true), "not published (few residents)");
});

test("rows carry names in the language, grades only, sorted by name", () => {
  const ko = districtRows(DOC, "ko");
  assert.deepEqual(ko.map((r) => r.name), ["김포본동", "장기동", "통진읍"]);
  const janggi = ko.find((r) => r.code === "4157056000");
  assert.deepEqual(janggi.grades, { overall: 4, safety: 2, natural: 1, calamity: 4, crime: 2 });
  assert.equal(ko[0].withheld, true);
  const en = districtRows(DOC, "en");
  assert.deepEqual(en.map((r) => r.name), ["Gimpobon-dong", "Janggi-dong", "Tongjin-eup"]);
  assert.deepEqual(districtRows(null, "ko"), []);
  assert.equal(pathLabel("ko", janggi, "calamity"), "장기동: 사고·화재 4등급 높음");
});

test("the hour is shown in the city's time zone, with the next update", () => {
  const ko = asOfLines(DOC, "ko");
  assert.equal(ko.asOf, "2026-12-05 13:00 기준");
  assert.match(ko.note, /다음 갱신: 2026-12-05 15:00$/);
  assert.equal(asOfLines(DOC, "en").asOf, "As of 2026-12-05 13:00");
  assert.deepEqual(asOfLines(null, "ko"), { asOf: "", note: "" });
});

test("credits come from the document; the language from the address, then the saved choice", () => {
  assert.deepEqual(creditLines(DOC, "en"), ["Boundaries: Statistics Korea SGIS", "Licence: KOGL Type 1"]);
  assert.deepEqual(creditLines({ boundaries: { approximate: true } }, "ko"), ["경계는 대략적인 모양입니다."]);
  assert.equal(chooseLang("en-US", "ko"), "en");
  assert.equal(chooseLang(null, "en"), "en");
  assert.equal(chooseLang("fr", null), "ko");
});
