// One warm Lambda sandbox for Node.js: loads a handler once, then runs it per request.
//
// The Node.js twin of worker.py, started by workers.Worker for
// nodejs18.x ... nodejs24.x functions, speaking the same JSON lines:
//
//   -> {"ready": true, "init_ms": 12.3, "logs": "..."} | {"ready": false, "error": {...}, "logs": "..."}
//   <- {"event": ..., "request_id": "...", "deadline": epoch_seconds}
//   -> {"ok": true, "result": ...} | {"ok": false, "error": {...}}, with "logs"
//
// As Lambda's Node.js runtime does: the handler is "path/file.export" (the
// export may be a nested path "file.a.b"); file.js / file.cjs load as CommonJS,
// file.mjs (or .js under "type": "module") as an ES module; async handlers and
// callback handlers (event, context, callback) both work; console output is
// logged as "<time>\t<request id>\tINFO\t<message>"; an error comes back as
// {"errorType", "errorMessage", "trace"}. The protocol is written with
// fs.writeSync(1); everything the handler writes to stdout is captured.
// Stand-alone: it imports nothing from the kit.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const util = require('util');
const { pathToFileURL } = require('url');

const protocolFd = 1;
let captured = [];
let currentRequestId = undefined;

function send(message) {
  fs.writeSync(protocolFd, JSON.stringify(message) + '\n');
}

// --- logs: console and stdout go to the invocation's log, never to the protocol ----------
function logLine(level, args) {
  const text = util.format(...args);
  const prefix = new Date().toISOString() + '\t' + (currentRequestId || 'undefined') + '\t' + level + '\t';
  captured.push(prefix + text);
}

console.log = (...args) => logLine('INFO', args);
console.info = (...args) => logLine('INFO', args);
console.warn = (...args) => logLine('WARN', args);
console.error = (...args) => logLine('ERROR', args);
console.debug = (...args) => logLine('DEBUG', args);
console.trace = (...args) => logLine('TRACE', args);
process.stdout.write = (chunk, encoding, callback) => {
  captured.push(String(chunk).replace(/\n$/, ''));
  if (typeof encoding === 'function') encoding();
  else if (typeof callback === 'function') callback();
  return true;
};

function takeLogs() {
  const text = captured.join('\n');
  captured = [];
  return text;
}

// --- errors, shaped as Lambda returns them -------------------------------------------------
function isError(value) {
  return util.types.isNativeError(value) || (value && typeof value === 'object' && typeof value.stack === 'string'
    && typeof value.message === 'string');
}

function errorDocument(error) {
  if (isError(error)) {
    return { errorType: error.name || 'Error', errorMessage: error.message, trace: String(error.stack).split('\n') };
  }
  return { errorType: typeof error, errorMessage: String(error), trace: [] };
}

function runtimeError(errorType, message, cause) {
  const document = { errorType, errorMessage: message, trace: [] };
  if (cause && cause.stack) document.trace = [errorType + ': ' + message, ...String(cause.stack).split('\n')];
  return document;
}

// --- finding the handler ---------------------------------------------------------------------
function packageTypeIsModule(file) {
  let folder = path.dirname(file);
  for (;;) {
    const manifest = path.join(folder, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        return JSON.parse(fs.readFileSync(manifest, 'utf8')).type === 'module';
      } catch (_) {
        return false;
      }
    }
    const parent = path.dirname(folder);
    if (parent === folder) return false;
    folder = parent;
  }
}

async function loadModule(taskRoot, modulePath) {
  const base = path.resolve(taskRoot, modulePath);
  if (fs.existsSync(base) && fs.statSync(base).isFile()) return require(base);
  const asModule = packageTypeIsModule(base + '.js');
  if (fs.existsSync(base + '.js')) {
    return asModule ? import(pathToFileURL(base + '.js').href) : require(base + '.js');
  }
  if (fs.existsSync(base + '.mjs')) return import(pathToFileURL(base + '.mjs').href);
  if (fs.existsSync(base + '.cjs')) return require(base + '.cjs');
  const missing = new Error("Cannot find module '" + modulePath + "'");
  missing.code = 'MODULE_NOT_FOUND';
  throw missing;
}

async function findHandler(taskRoot, spec) {
  const name = path.basename(spec);
  const folder = spec.slice(0, spec.length - name.length);
  const match = /^([^.]*)\.(.*)$/.exec(name);
  if (!match) throw { lambda: runtimeError('Runtime.MalformedHandlerName', 'Bad handler') };
  const [, moduleName, exportPath] = match;
  let loaded;
  try {
    loaded = await loadModule(taskRoot, folder + moduleName);
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw { lambda: runtimeError('Runtime.UserCodeSyntaxError', String(error), error) };
    }
    if (error && (error.code === 'MODULE_NOT_FOUND' || error.code === 'ERR_MODULE_NOT_FOUND')) {
      let message = 'Error: ' + error.message;
      if (/@aws-sdk\//.test(error.message) && !process.env._LOCALCLOUD_NODE_SDK) {
        message += " (the local cloud provides the AWS SDK for JavaScript v3 after `make lambda-runtimes`)";
      }
      throw { lambda: runtimeError('Runtime.ImportModuleError', message, error) };
    }
    throw { lambda: errorDocument(error) };
  }
  const handler = exportPath.split('.').reduce((value, key) => (value == null ? undefined : value[key]), loaded);
  if (handler === undefined) {
    throw { lambda: runtimeError('Runtime.HandlerNotFound', spec + ' is undefined or not exported') };
  }
  if (typeof handler !== 'function') {
    throw { lambda: runtimeError('Runtime.HandlerNotFound', spec + ' is not a function') };
  }
  return handler;
}

// --- the context object ---------------------------------------------------------------------
function makeContext(requestId, deadline, settle) {
  const env = process.env;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: env._LOCALCLOUD_FUNCTION_ARN,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: requestId,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: undefined,
    clientContext: undefined,
    getRemainingTimeInMillis: () => Math.max(0, Math.floor(deadline * 1000 - Date.now())),
    // the legacy completion methods some older handlers still call
    done: (error, result) => settle(error, result),
    succeed: (result) => settle(null, result),
    fail: (error) => settle(error || 'handled', undefined),
  };
}

function resourceCounts() {
  const counts = {};
  for (const name of process.getActiveResourcesInfo ? process.getActiveResourcesInfo() : []) {
    counts[name] = (counts[name] || 0) + 1;
  }
  return counts;
}

function drained(baseline) {
  const now = resourceCounts();
  return Object.keys(now).every((name) => now[name] <= (baseline[name] || 0));
}

function invoke(handler, event, requestId, deadline) {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (error, result) => {
      if (settled) return;
      settled = true;
      if (error !== null && error !== undefined) resolve({ ok: false, error: errorDocument(error) });
      else resolve({ ok: true, result: result === undefined ? null : result });
    };
    const context = makeContext(requestId, deadline, settle);
    const baseline = resourceCounts();
    let returned;
    try {
      returned = handler(event, context, settle);
    } catch (error) {
      settle(error);
      return;
    }
    if (returned && typeof returned.then === 'function') {
      returned.then((result) => settle(null, result), (error) => settle(error || 'handled'));
      return;
    }
    // Neither a promise nor (yet) the callback: as on Lambda, the answer is the callback's
    // when it comes, else null once the event loop has nothing left to do.
    const poll = () => {
      if (settled) return;
      if (drained(baseline)) settle(null, null);
      else setTimeout(poll, 2);
    };
    setImmediate(poll);
  });
}

function reply(message) {
  try {
    send(message);
  } catch (error) {  // a result JSON cannot represent (a cycle, a BigInt)
    send({ ok: false, logs: message.logs, error: errorDocument(error) });
  }
}

async function main() {
  const hooks = process.env._LOCALCLOUD_NODE_HOOKS;
  const sdk = process.env._LOCALCLOUD_NODE_SDK;
  if (hooks && sdk) {
    // ES modules ignore NODE_PATH: resolve bare @aws-sdk/* imports to the runtime's SDK as a last resort
    const moduleApi = require('module');
    if (typeof moduleApi.register === 'function') {
      moduleApi.register(pathToFileURL(hooks).href, { data: { sdk: pathToFileURL(path.dirname(sdk) + path.sep).href } });
    }
  }
  const taskRoot = process.env.LAMBDA_TASK_ROOT;
  const spec = process.env._HANDLER;
  // nodejs24.x no longer supports callback handlers: a handler taking (event, context, callback) fails there
  const runtime = (process.env.AWS_EXECUTION_ENV || '').replace('AWS_Lambda_', '');
  const callbacksAllowed = runtime !== 'nodejs24.x';
  process.chdir(taskRoot);
  const started = process.hrtime.bigint();
  let handler;
  try {
    handler = await findHandler(taskRoot, spec);
  } catch (failure) {
    const error = failure && failure.lambda ? failure.lambda : errorDocument(failure);
    send({ ready: false, error, logs: takeLogs() });
    return 1;
  }
  if (!callbacksAllowed && handler.length >= 3 && handler.constructor.name !== 'AsyncFunction') {
    send({ ready: false, logs: takeLogs(), error: runtimeError('Runtime.CallbackHandlerDeprecated',
      'ERROR: AWS Lambda has removed support for callback-based function handlers starting with Node.js 24. '
      + 'You need to modify this function to use a supported handler signature to use Node.js 24 or later.') });
    return 1;
  }
  send({ ready: true, init_ms: Number(process.hrtime.bigint() - started) / 1e6, logs: takeLogs() });

  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const request = JSON.parse(line);
    currentRequestId = request.request_id;
    const outcome = await invoke(handler, request.event, request.request_id, request.deadline);
    if (!outcome.ok) {
      const { errorType, errorMessage, trace } = outcome.error;
      logLine('ERROR', ['Invoke Error \t' + JSON.stringify({ errorType, errorMessage, stack: trace })]);
    }
    outcome.logs = takeLogs();
    currentRequestId = undefined;
    reply(outcome);
  }
  return 0;
}

process.on('SIGINT', () => {});  // Ctrl-C stops the server, which closes our stdin
process.on('unhandledRejection', (reason) => logLine('ERROR', ['Unhandled Promise Rejection', reason]));
main().then((code) => process.exit(code), (error) => {
  send({ ready: false, error: errorDocument(error), logs: takeLogs() });
  process.exit(1);
});
