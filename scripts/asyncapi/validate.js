// Validates an AsyncAPI document with the official parser; exit 1 on any error.
const fs = require("fs");
const { Parser } = require("@asyncapi/parser");

async function main(path) {
  const parser = new Parser();
  const { document, diagnostics } = await parser.parse(fs.readFileSync(path, "utf8"));
  const errors = diagnostics.filter((d) => d.severity === 0);
  for (const d of diagnostics) {
    console.log(`${["error", "warning", "info", "hint"][d.severity]} ${d.code} ${d.path.join(".")}: ${d.message}`);
  }
  if (!document || errors.length) {
    console.log(`${path}: INVALID (${errors.length} errors)`);
    process.exit(1);
  }
  console.log(`${path}: valid AsyncAPI ${document.version()}, ${document.channels().length} channels, ` +
              `${document.messages().length} messages`);
}

main(process.argv[2]).catch((err) => { console.error(err); process.exit(1); });
