// Bundles src/main.js (and the stylesheets it imports, Leaflet's among them) with esbuild into
// ../static/dist/: app.js, app.css, the chunks loaded later (h3-js, for the heat layer) and
// source maps. Fails when the page's JavaScript and CSS exceed the budget once compressed.
//
//   node build.mjs            minified bundle (what make builds)
//   node build.mjs --dev      readable, not minified
import { build } from "esbuild";
import { readFileSync, readdirSync, rmSync } from "node:fs";
import { gzipSync } from "node:zlib";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.resolve(here, "..", "static", "dist");
const BUDGET_BYTES = 300 * 1024; // JS + CSS, gzip
const dev = process.argv.includes("--dev");

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: { app: path.join(here, "src", "main.js") },
  outdir,
  bundle: true,
  format: "esm",
  splitting: true,
  chunkNames: "chunk-[hash]",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  minify: !dev,
  sourcemap: "linked",
  legalComments: "linked", // third-party licences kept beside the bundle (app.js.LEGAL.txt)
  loader: { ".png": "dataurl", ".svg": "dataurl" }, // Leaflet's CSS images: no extra requests
  metafile: true,
  logLevel: "warning",
});
if (result.errors.length) process.exit(1);

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
