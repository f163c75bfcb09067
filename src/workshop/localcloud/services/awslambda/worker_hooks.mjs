// Module resolution hooks for worker.js (registered with module.register).
//
// ES modules ignore NODE_PATH, yet on Lambda `import { SFNClient } from "@aws-sdk/client-sfn"`
// works in an .mjs handler without packaging the SDK. A bare specifier the
// function's own files and node_modules cannot resolve is tried once more
// from the runtime's SDK folder; the function's own copy always wins.
let sdkParent;

export async function initialize(data) {
  sdkParent = data && data.sdk;
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const bare = !specifier.startsWith('.') && !specifier.startsWith('/') && !specifier.includes(':');
    if (!sdkParent || !bare || error.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    return nextResolve(specifier, { ...context, parentURL: sdkParent });
  }
}
