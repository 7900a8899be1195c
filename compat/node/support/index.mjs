/**
 * What the Node.js compatibility scripts share: the server's settings, a twilio-node client
 * pointed at verifyd, assertions, and the step runner that prints the summary line
 * `cargo xtask test` reads. (A folder, not a `compat/node/*.mjs` file, so it is not run as a
 * script; xtask copies it beside the scripts.)
 */

import twilio from "twilio";

export const BASE_URL = (process.env.VERIFYD_URL ?? "").replace(/\/+$/, "");
export const ACCOUNT_SID = process.env.VERIFYD_ACCOUNT_SID ?? "";
export const AUTH_TOKEN = process.env.VERIFYD_AUTH_TOKEN ?? "";

export class StepFailed extends Error {}

export function expect(condition, message) {
  if (!condition) {
    throw new StepFailed(message);
  }
}

export function show(value) {
  return JSON.stringify(value) ?? String(value);
}

export function expectEq(what, got, want) {
  expect(got === want, `${what}: got ${show(got)}, want ${show(want)}`);
}

export function expectDate(what, value) {
  // twilio-node turns date_* fields into Date objects through dayjs, and leaves what it
  // cannot read a string.
  expect(value instanceof Date && !Number.isNaN(value.getTime()), `${what}: not read as a Date: ${show(value)}`);
}

/** Awaits `call()`, which must reject with a RestException of this status and code. */
export async function expectRestError(what, call, status, code) {
  let result;
  try {
    result = await call();
  } catch (e) {
    if (!(e instanceof twilio.RestException)) {
      throw e;
    }
    expect(
      e.status === status && e.code === code,
      `${what}: got HTTP ${e.status} code ${e.code} (${e.message}), want HTTP ${status} code ${code}`,
    );
    return e;
  }
  throw new StepFailed(`${what}: succeeded (${show(result?.toJSON?.() ?? result)}), want HTTP ${status} code ${code}`);
}

/** A twilio-node client whose Verify requests go to verifyd. */
export function makeClient() {
  // A timeout, so that a server that never answers fails the step instead of hanging.
  const client = twilio(ACCOUNT_SID, AUTH_TOKEN, { timeout: 30_000 });
  client.edge = undefined;
  client.region = undefined;
  client.verify.baseUrl = BASE_URL;
  return client;
}

export function basicAuth() {
  return `Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString("base64")}`;
}

function describe(error) {
  if (error instanceof twilio.RestException) {
    return `RestException: HTTP ${error.status} code ${error.code}: ${error.message}`;
  }
  if (error instanceof StepFailed) {
    return error.message;
  }
  return `${error?.name ?? "Error"}: ${error?.message ?? error}`.split("\n")[0];
}

/**
 * Runs the steps `prepare()` gives (called once the settings are known to be there), one
 * line each (`ok  name (N ms)` or `FAIL name: reason`), then `compat <script>: N passed, M
 * failed`; answers the exit code. `onFailure(name)` runs after a failed step, `cleanup()`
 * after them all, whatever happened (their own errors are ignored: the steps reported).
 */
export async function runSteps(script, prepare) {
  const settings = { VERIFYD_URL: BASE_URL, VERIFYD_ACCOUNT_SID: ACCOUNT_SID, VERIFYD_AUTH_TOKEN: AUTH_TOKEN };
  const missing = Object.entries(settings)
    .filter(([, value]) => !value)
    .map(([name]) => name);
  if (missing.length > 0) {
    console.log(`compat ${script}: ${missing.join(", ")} not set`);
    console.log(`compat ${script}: 0 passed, 1 failed`);
    return 1;
  }
  const { steps, onFailure = async () => {}, cleanup = async () => {} } = prepare();
  let passed = 0;
  let failed = 0;
  try {
    for (const [name, step] of steps) {
      const started = Date.now();
      try {
        await step();
        passed += 1;
        console.log(`ok  ${name} (${Date.now() - started} ms)`);
      } catch (error) {
        failed += 1;
        console.log(`FAIL ${name}: ${describe(error)}`);
        await onFailure(name).catch(() => {});
      }
    }
  } finally {
    await cleanup().catch(() => {});
  }
  console.log(`compat ${script}: ${passed} passed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}
