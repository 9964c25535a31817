// Parses an AsyncAPI document (the file named first, or standard input) with the official
// @asyncapi/parser and prints its diagnostics as JSON: {"valid", "errors", "warnings", "channels"}.
// Exit status 0 only when the parser found no error. Run by tests/interop/test_asyncapi_parser.py.
import { readFileSync } from "node:fs";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const source = readFileSync(process.argv[2] ?? 0, "utf8");
const parser = new Parser();
const { document, diagnostics } = await parser.parse(source);
const describe = (item) => ({ code: item.code, message: item.message, path: item.path.join("/") });
const errors = diagnostics.filter((item) => item.severity === DiagnosticSeverity.Error).map(describe);
const warnings = diagnostics.filter((item) => item.severity === DiagnosticSeverity.Warning).map(describe);
const channels = document
  ? document.channels().all().map((channel) => ({
      id: channel.id(),
      address: channel.address(),
      bindings: channel.bindings().all().map((binding) => ({ protocol: binding.protocol(), value: binding.value() })),
    }))
  : [];
const operations = document
  ? document.operations().all().map((operation) => ({
      id: operation.id(),
      action: operation.action(),
      bindings: operation.bindings().all().map((binding) => ({ protocol: binding.protocol(), value: binding.value() })),
    }))
  : [];
process.stdout.write(JSON.stringify({ valid: Boolean(document) && errors.length === 0, errors, warnings, channels, operations }));
process.exit(document && errors.length === 0 ? 0 : 1);
