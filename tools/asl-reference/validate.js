#!/usr/bin/env node
/*
 * Run the two reference ASL validators on many definitions at once.
 *
 *   node validate.js < cases.json > verdicts.json
 *
 * stdin: a JSON array of {"id": "...", "text": "<definition JSON text>"}.
 * stdout: a JSON array of {"id", "aws_toolkit": {...}, "asl_validator": {...}},
 * each verdict being {"valid": bool, "diagnostics": [{"severity", "message", ...}]}.
 *
 * aws_toolkit is amazon-states-language-service, the validator inside the AWS
 * Toolkit's Step Functions editor: a definition is invalid when it reports any
 * diagnostic of severity Error (what the editor underlines in red).
 * asl_validator is the asl-validator package with its CLI's defaults (path and
 * ARN checks on); like its CLI, it is given JSON.parse's result, so text that
 * is not JSON is invalid for it.
 */
"use strict";

const Module = require("module");

// asl-validator makes a new Ajv and compiles its fifteen JSON schemas at every call: about 0.1 s a
// definition, most of a calibration run. Here every call has the same schemas and options (its CLI's
// defaults), so the first Ajv, its schemas compiled, serves every call; what each call adds to it again
// (the same formats, ajv-formats' keywords) is added once. Verdicts are unchanged (the calibration
// test runs a sample of the corpus both ways and compares; ASL_REFERENCE_FRESH_AJV=1 turns this off).
function sharingAjv() {
  const load = Module._load;
  const made = new WeakSet();
  Module._load = function (request, parent) {
    const loaded = load.apply(this, arguments);
    const fromValidator = parent && parent.filename && parent.filename.includes("asl-validator");
    if (!fromValidator || (request !== "ajv" && request !== "ajv-formats")) return loaded;
    const real = loaded.default || loaded;
    if (request === "ajv") {
      let shared = null;
      const SharedAjv = function (options) {
        if (shared === null) {
          shared = new real(options);
        }
        return shared;
      };
      return { __esModule: true, default: SharedAjv };
    }
    const addOnce = function (ajv, options) {
      if (made.has(ajv)) return ajv;
      made.add(ajv);
      return real(ajv, options);
    };
    return { __esModule: true, default: addOnce };
  };
}
if (process.env.ASL_REFERENCE_FRESH_AJV !== "1") sharingAjv();

const { getLanguageService, TextDocument, DiagnosticSeverity } = require("amazon-states-language-service");
const aslValidator = require("asl-validator");

const languageService = getLanguageService({});

async function awsToolkit(text) {
  const document = TextDocument.create("file:///definition.asl.json", "json", 1, text);
  const parsed = languageService.parseJSONDocument(document);
  const found = await languageService.doValidation(document, parsed);
  const diagnostics = found.map((d) => ({
    severity: d.severity === DiagnosticSeverity.Error ? "ERROR" : "WARNING",
    message: d.message,
    code: d.code === undefined ? null : d.code,
    line: d.range.start.line + 1,
    column: d.range.start.character + 1,
  }));
  return { valid: !diagnostics.some((d) => d.severity === "ERROR"), diagnostics };
}

function aslValidatorVerdict(text) {
  let definition;
  try {
    definition = JSON.parse(text);
  } catch (error) {
    return { valid: false, diagnostics: [{ severity: "ERROR", message: `not JSON: ${error.message}` }] };
  }
  if (definition === null || typeof definition !== "object" || Array.isArray(definition)) {
    return { valid: false, diagnostics: [{ severity: "ERROR", message: "the definition is not a JSON object" }] };
  }
  try {
    const { isValid, errors } = aslValidator(definition);
    return {
      valid: isValid,
      diagnostics: (errors || []).map((e) => ({
        severity: "ERROR",
        message: `${e["Error code"] || ""}: ${e.Message || e.message || ""}`,
      })),
    };
  } catch (error) {
    // The CLI exits 2 on an exception: the definition was not accepted.
    return { valid: false, diagnostics: [{ severity: "ERROR", message: `exception: ${error.message}` }] };
  }
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const cases = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const out = [];
  for (const { id, text } of cases) {
    out.push({ id, aws_toolkit: await awsToolkit(text), asl_validator: aslValidatorVerdict(text) });
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(2);
});
