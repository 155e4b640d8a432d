// Writes the license text of every package esbuild put into the bundle, read from the
// metafile `make voice-sdk` asks esbuild for: node licenses.mjs META OUT
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [meta, out] = process.argv.slice(2);
const inputs = Object.keys(JSON.parse(readFileSync(meta, "utf8")).inputs);
const names = new Set();
for (const input of inputs) {
  const at = input.lastIndexOf("node_modules/");
  if (at < 0) continue;
  const parts = input.slice(at + "node_modules/".length).split("/");
  names.add(parts[0].startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]);
}
const sections = [...names].sort().map((name) => {
  const dir = join("node_modules", name);
  const { version, license } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const files = readdirSync(dir).filter((f) => /^(licen[cs]e|copying)/i.test(f)).sort();
  if (!files.length) throw new Error(`${name} ships no license file`);
  const texts = files.map((f) => readFileSync(join(dir, f), "utf8").trim());
  return `${name} ${version} (${license})\n${"=".repeat(72)}\n\n${texts.join("\n\n")}\n`;
});
const head =
  "twilio-voice.min.js bundles these packages from npm; their licenses follow.\n\n";
writeFileSync(out, head + sections.join("\n\n"));
