// Bundles src/main.js (and the stylesheets it imports, Leaflet's among them) with esbuild into
// ../static/dist/: app.js, app.css, the chunks loaded later (h3-js, for the heat layer) and
// source maps. Fails when the page's JavaScript and CSS exceed the budget once compressed.
//
//   node build.mjs            minified bundle (what make builds)
//   node build.mjs --dev      readable, not minified
import { build } from "esbuild";
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.resolve(here, "..", "static", "dist");
const BUDGET_BYTES = 300 * 1024; // JS + CSS, gzip
const dev = process.argv.includes("--dev");

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: {
    app: path.join(here, "src", "main.js"),
    field: path.join(here, "src", "field", "main.js"), // the inspectors' phone page (/field)
    public: path.join(here, "src", "public", "main.js"), // the citizens' safety map (/public)
  },
  outdir,
  bundle: true,
  format: "esm",
  splitting: true,
  chunkNames: "chunk-[hash]",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  minify: !dev,
  sourcemap: "linked",
  legalComments: "none", // the packages' whole licences go to THIRD-PARTY-NOTICES.txt instead
  loader: { ".png": "dataurl", ".svg": "dataurl" }, // Leaflet's CSS images: no extra requests
  metafile: true,
  logLevel: "warning",
});
if (result.errors.length) process.exit(1);

// Every npm package that has code in the bundle, with its licence and notice files verbatim:
// served as /static/dist/THIRD-PARTY-NOTICES.txt and linked from the page.
const packages = new Map();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (m) packages.set(m[1], path.join(here, "node_modules", m[1]));
}
const notices = [
  "Third-party software in riskmon's dashboard bundle (app.js, app.css and chunks).",
  "riskmon itself is licensed under the Apache License 2.0 (LICENSE in its repository).",
  "",
];
for (const [name, dir] of [...packages].sort()) {
  const meta = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
  notices.push("=".repeat(78), `${name} ${meta.version} — ${meta.license}`, meta.homepage || "", "");
  const files = readdirSync(dir).filter((f) => /^(licen[cs]e|notice|copying)(\.(md|txt))?$/i.test(f));
  if (!files.length) {
    console.error(`${name} ships no licence file: cannot bundle it without its notice`);
    process.exit(1);
  }
  for (const f of files.sort()) notices.push(readFileSync(path.join(dir, f), "utf8").trim(), "");
}
writeFileSync(path.join(outdir, "THIRD-PARTY-NOTICES.txt"), notices.join("\n") + "\n");
if (!existsSync(path.join(outdir, "THIRD-PARTY-NOTICES.txt"))) process.exit(1);

let total = 0;
const lines = [];
for (const name of readdirSync(outdir).sort()) {
  if (!/\.(js|css)$/.test(name)) continue;
  const bytes = readFileSync(path.join(outdir, name));
  const gz = gzipSync(bytes, { level: 9 }).length;
  total += gz;
  lines.push(`  ${name.padEnd(28)} ${(bytes.length / 1024).toFixed(1).padStart(7)} KB  gzip ${(gz / 1024).toFixed(1).padStart(6)} KB`);
}
console.log(`bundle in ${path.relative(process.cwd(), outdir) || outdir}:\n${lines.join("\n")}`);
console.log(`  total JS + CSS, gzip: ${(total / 1024).toFixed(1)} KB (budget ${BUDGET_BYTES / 1024} KB)`);
if (total > BUDGET_BYTES) {
  console.error("the bundle is over its budget: page JS + CSS must stay under 300 KB compressed");
  process.exit(1);
}
