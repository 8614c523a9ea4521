import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { LANGUAGES, STRINGS, chooseLanguage, supported, translate, translateOr } from "../src/i18n.js";

const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

test("Korean and English have the same strings with the same placeholders", () => {
  assert.deepEqual(Object.keys(STRINGS.ko).sort(), Object.keys(STRINGS.en).sort());
  for (const key of Object.keys(STRINGS.en)) {
    assert.deepEqual(placeholders(STRINGS.ko[key]), placeholders(STRINGS.en[key]), key);
    assert.ok(STRINGS.ko[key].length > 0, key);
  }
});

test("every key the page uses is translated", () => {
  const used = new Set();
  const src = new URL("../src/", import.meta.url);
  for (const name of readdirSync(src)) {
    if (!name.endsWith(".js")) continue;
    const text = readFileSync(new URL(name, src), "utf8");
    for (const m of text.matchAll(/\bt\(\s*"([a-z_.0-9]+)"\s*[,)]/g)) used.add(m[1]);
  }
  const html = readFileSync(new URL("../../static/index.html", import.meta.url), "utf8");
  for (const m of html.matchAll(/data-i18n(?:-label)?="([^"]+)"/g)) used.add(m[1]);
  assert.ok(used.size > 50, `found only ${used.size} keys`);
  for (const key of used) assert.ok(key in STRINGS.en && key in STRINGS.ko, `untranslated: ${key}`);
});

test("the strings the browser tests read", () => {
  assert.equal(translate("en", "status.live"), "live");
  assert.equal(translate("en", "status.signed_out"), "signed out");
  assert.equal(translate("en", "logout.done"), "You signed out.");
  assert.equal(translate("en", "ack.applied"), "Acknowledged.");
  assert.equal(translate("en", "alert.acknowledged", { who: "kim", time: "14:05" }), "acknowledged by kim at 14:05");
  assert.match(translate("en", "tab.stats"), /Statistics/);
  assert.match(translate("ko", "tab.stats"), /통계/);
});

test("placeholders are filled; unknown keys and languages fall back", () => {
  assert.equal(translate("ko", "summary", { n: 14, name: "장기동", value: "4.00" }), "14개 동 · 최고: 장기동 4.00");
  assert.equal(translate("ko", "no.such.key"), "no.such.key");
  assert.equal(translate("fr", "status.live"), "실시간");
  assert.equal(translateOr("en", "domain.volcano", "volcano"), "volcano");
  assert.equal(translateOr("ko", "domain.fire", "fire"), "화재");
});

test("the language: address, earlier choice, browser, city, Korean", () => {
  assert.deepEqual(LANGUAGES, ["ko", "en"]);
  assert.equal(supported("ko-KR"), "ko");
  assert.equal(supported("en_GB"), "en");
  assert.equal(supported("fr"), null);
  assert.equal(chooseLanguage({ param: "en", saved: "ko", browser: "ko-KR", city: "ko" }), "en");
  assert.equal(chooseLanguage({ param: "xx", saved: "ko", browser: "en-US", city: "en" }), "ko");
  assert.equal(chooseLanguage({ browser: "en-US", city: "ko" }), "ko");
  assert.equal(chooseLanguage({ browser: "en-US" }), "en");
  assert.equal(chooseLanguage({ browser: "fr-FR", city: "ko" }), "ko");
  assert.equal(chooseLanguage({ browser: "fr-FR", city: "en" }), "en");
  assert.equal(chooseLanguage({}), "ko");
});
