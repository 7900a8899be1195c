// Compatibility: the passkey ceremonies in a real browser. Headless Chromium (the system's
// /usr/bin/chromium, Debian's package `chromium`, driven by playwright-core, pinned in
// compat/node/package.json) opens verifyd's development page /dev/passkeys, and a virtual
// WebAuthn authenticator (Chrome DevTools Protocol, `WebAuthn.addVirtualAuthenticator`) plays
// the user's device: the page registers a passkey and signs in with it through the server's
// Passkeys operations, and the script checks what the page shows, what the REST API says
// and what the authenticator holds.
//
// Run by `cargo xtask test` against a running `verifyd serve` in development mode, from
// target/compat-node, where the packages are installed from package-lock.json; xtask installs
// Chromium first when it is missing. By hand: `npm ci` in compat/node, then
// `node passkeys_browser.mjs` with this environment:
//
//     VERIFYD_URL            the server's base URL, e.g. http://127.0.0.1:8080
//     VERIFYD_ACCOUNT_SID    an account SID (AC…)
//     VERIFYD_AUTH_TOKEN     its auth token
//     VERIFYD_CHROMIUM       the browser (default /usr/bin/chromium)
//     VERIFYD_ARTIFACTS_DIR  where the screenshots go (xtask: target/compat-artifacts;
//                            default: compat-artifacts in the system's temporary directory)
//
// WebAuthn needs a secure context, and a relying party ID must be a domain name: the page is
// opened as http://localhost:PORT (VERIFYD_URL with 127.0.0.1 replaced), so the service's
// relying party is `localhost` and its origin http://localhost:PORT.
//
// Prints one line per step (`ok  name` or `FAIL name: reason`), then
// `compat passkeys_browser: N passed, M failed`, and exits 1 when a step failed.

import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

import { chromium } from "playwright-core";

import {
  ACCOUNT_SID,
  AUTH_TOKEN,
  BASE_URL,
  StepFailed,
  basicAuth,
  expect,
  expectEq,
  runSteps,
  show,
} from "./support/index.mjs";

const SCRIPT = "passkeys_browser";
const IDENTITY = "passkey-user-1";
const MANUAL_IDENTITY = "passkey-user-2";
const NO_PASSKEY_IDENTITY = "nobody-at-all";
/** How long one ceremony (API calls and the authenticator) may take. */
const STEP_TIMEOUT_MS = 30_000;

const CHROMIUM = process.env.VERIFYD_CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = resolve(process.env.VERIFYD_ARTIFACTS_DIR || join(tmpdir(), "compat-artifacts"));

/** The page's origin: the server's, by the name `localhost` (a secure context and a valid RP ID). */
function pageOrigin() {
  const url = new URL(BASE_URL);
  if (url.hostname === "127.0.0.1" || url.hostname === "[::1]") {
    url.hostname = "localhost";
  }
  return url.origin;
}

const ORIGIN = BASE_URL ? pageOrigin() : "";
const RP_ID = ORIGIN ? new URL(ORIGIN).hostname : "";

/** A REST call to the server, outside the browser: [status, JSON body]. */
async function rest(method, path) {
  const response = await fetch(`${BASE_URL}${path}`, {
    method,
    headers: { Authorization: basicAuth(), Accept: "application/json" },
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  return [response.status, body];
}

class Run {
  constructor() {
    this.browser = null;
    this.page = null;
    this.cdp = null;
    this.authenticatorId = null;
    this.serviceSid = null;
    this.factorSid = null;
    this.entitySid = null;
    this.credentialId = null;
    this.registeredSignCount = null;
    this.screenshots = [];
    /** Requests of the page to anything but its own origin (navigations aside). */
    this.foreignRequests = [];
    /** Uncaught exceptions and Content-Security-Policy reports of the page. */
    this.pageErrors = [];
  }

  requirePage() {
    expect(this.page !== null && this.cdp !== null, "no page (an earlier step failed)");
    return this.page;
  }

  requireService() {
    expect(this.serviceSid !== null, "no service (an earlier step failed)");
    return this.serviceSid;
  }

  async screenshot(name) {
    const path = join(ARTIFACTS, `passkeys_${name}.png`);
    await this.page.screenshot({ path, fullPage: true });
    this.screenshots.push(path);
  }

  async text(selector) {
    return ((await this.page.textContent(selector)) ?? "").trim();
  }

  /** Clicks a button of the page and waits until the action it started has ended. */
  async click(selector) {
    const page = this.requirePage();
    await page.click(selector);
    await page.waitForSelector('body[data-state="idle"]', { state: "attached", timeout: STEP_TIMEOUT_MS });
  }

  async expectNoError(what) {
    const error = await this.text("#error");
    expectEq(`${what}: #error`, error, "");
  }

  async credentials() {
    const { credentials } = await this.cdp.send("WebAuthn.getCredentials", { authenticatorId: this.authenticatorId });
    return credentials;
  }

  // The browser and the page

  async launch() {
    expect(
      existsSync(CHROMIUM),
      `no browser at ${CHROMIUM}: install Debian's package chromium (apt-get install -y chromium) ` +
        "or set VERIFYD_CHROMIUM",
    );
    mkdirSync(ARTIFACTS, { recursive: true });
    this.browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 60_000 });
    // A phone's viewport: the page must be readable there.
    const context = await this.browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.on("request", (request) => {
      // Navigations are this script's; everything the page itself loads or calls must be its own.
      if (request.isNavigationRequest()) {
        return;
      }
      const url = new URL(request.url());
      if (url.origin !== new URL(request.frame().url()).origin && url.protocol !== "data:") {
        this.foreignRequests.push(request.url());
      }
    });
    page.on("pageerror", (error) => this.pageErrors.push(`uncaught: ${error.message}`));
    page.on("console", (message) => {
      if (message.text().includes("Content Security Policy")) {
        this.pageErrors.push(`CSP: ${message.text()}`);
      }
    });
    this.cdp = await context.newCDPSession(page);
    await this.cdp.send("WebAuthn.enable");
    const { authenticatorId } = await this.cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        transport: "internal",
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    this.authenticatorId = authenticatorId;
    this.page = page;
    console.log(`    Chromium ${this.browser.version()} at ${CHROMIUM}; page ${ORIGIN}/dev/passkeys`);
    console.log(`    screenshots in ${ARTIFACTS}`);
  }

  async openPage() {
    const page = this.requirePage();
    if (new URL(BASE_URL).origin !== ORIGIN) {
      // By its IP address the page works no ceremony (an RP ID is a domain name), and says so.
      await page.goto(`${BASE_URL}/dev/passkeys`);
      const warning = await this.text("#context-warning");
      expect(warning.includes("not an IP address"), `#context-warning at ${BASE_URL}: ${show(warning)}`);
    }
    const response = await page.goto(`${ORIGIN}/dev/passkeys`);
    expect(response !== null, "no answer to GET /dev/passkeys");
    expectEq("HTTP status of /dev/passkeys", response.status(), 200);
    expect(
      (response.headers()["content-type"] ?? "").startsWith("text/html"),
      `content-type: ${show(response.headers()["content-type"])}`,
    );
    expectEq("isSecureContext", await page.evaluate(() => window.isSecureContext), true);
    expectEq("WebAuthn in the page", await page.evaluate(() => typeof window.PublicKeyCredential), "function");
    expectEq("#context-warning", await this.text("#context-warning"), "");
    // Nothing prefilled.
    for (const field of ["#account-sid", "#auth-token", "#service-sid", "#identity"]) {
      expectEq(`${field} on opening`, await page.inputValue(field), "");
    }
    expectEq("#rp-id", await this.text("#rp-id"), RP_ID);
    await this.screenshot("1_page");
  }

  // The ceremonies

  async setUpService() {
    const page = this.requirePage();
    await page.fill("#account-sid", ACCOUNT_SID);
    await page.fill("#auth-token", AUTH_TOKEN);
    await this.click("#setup-service");
    await this.expectNoError("set up service");
    const sid = await this.text("#service-result");
    expect(/^VA[0-9a-f]{32}$/.test(sid), `#service-result: ${show(sid)}`);
    expectEq("#service-sid after set-up", await page.inputValue("#service-sid"), sid);
    this.serviceSid = sid;
    const [status, service] = await rest("GET", `/v2/Services/${sid}`);
    expectEq(`GET /v2/Services/${sid}`, status, 200);
    expectEq("friendly_name", service.friendly_name, "Passkeys demo");
    const passkeys = service.passkeys ?? {};
    const relyingParty = { id: RP_ID, name: "verifyd demo", origins: [ORIGIN] };
    expectEq("passkeys.relying_party", show(passkeys.relying_party), show(relyingParty));
    expectEq("passkeys.user_verification", passkeys.user_verification, "preferred");
    expectEq("passkeys.discoverable_credentials", passkeys.discoverable_credentials, "required");
    await this.screenshot("2_service");
  }

  async register() {
    const page = this.requirePage();
    this.requireService();
    await page.fill("#identity", IDENTITY);
    await this.click("#register");
    await this.expectNoError("register");
    expectEq("#factor-status", await this.text("#factor-status"), "verified");
    expectEq("#json-mode", await this.text("#json-mode"), "the browser's");
    const sid = await this.text("#factor-sid");
    expect(/^YF[0-9a-f]{32}$/.test(sid), `#factor-sid: ${show(sid)}`);
    this.factorSid = sid;
    await this.screenshot("3_registered");

    // The REST API agrees.
    const [status, body] = await rest("GET", `/v2/Services/${this.serviceSid}/Entities/${IDENTITY}/Factors`);
    expectEq("HTTP status of the factor list", status, 200);
    const factors = body.factors ?? [];
    expectEq(
      "factors of the identity (sid, status, factor_type)",
      show(factors.map((f) => [f.sid, f.status, f.factor_type])),
      show([[sid, "verified", "passkeys"]]),
    );
    expectEq("friendly_name", factors[0].friendly_name, IDENTITY);
    this.entitySid = factors[0].entity_sid;

    // The authenticator holds the passkey: discoverable, for localhost, user handle the entity.
    const credentials = await this.credentials();
    expectEq("credentials on the authenticator", credentials.length, 1);
    const [credential] = credentials;
    expectEq("rpId", credential.rpId, RP_ID);
    expectEq("isResidentCredential", credential.isResidentCredential, true);
    expectEq(
      "userHandle (the entity's SID)",
      Buffer.from(credential.userHandle ?? "", "base64").toString("latin1"),
      this.entitySid,
    );
    this.credentialId = credential.credentialId;
    this.registeredSignCount = credential.signCount;
  }

  async signIn(button, identity) {
    const page = this.requirePage();
    this.requireService();
    await page.fill("#identity", identity ?? "");
    await this.click(button);
    await this.expectNoError(button);
    expectEq("#challenge-status", await this.text("#challenge-status"), "approved");
    expectEq("#challenge-identity", await this.text("#challenge-identity"), IDENTITY);
    const sid = await this.text("#challenge-sid");
    expect(/^YC[0-9a-f]{32}$/.test(sid), `#challenge-sid: ${show(sid)}`);
    return sid;
  }

  async signInWithIdentity() {
    await this.signIn("#sign-in", IDENTITY);
    await this.screenshot("4_signed_in");
  }

  async signInWithoutIdentity() {
    // The identity field is empty: only the discoverable passkey can name the user.
    await this.signIn("#sign-in-discoverable", null);
    await this.screenshot("5_signed_in_discoverable");
  }

  async signCountGrew() {
    this.requirePage();
    expect(this.registeredSignCount !== null, "no passkey (an earlier step failed)");
    const credentials = await this.credentials();
    expectEq("credentials on the authenticator", credentials.length, 1);
    expectEq("credentialId", credentials[0].credentialId, this.credentialId);
    const count = credentials[0].signCount;
    expect(
      count > this.registeredSignCount,
      `signCount after two sign-ins: ${count}, at registration: ${this.registeredSignCount}`,
    );
    console.log(`    signCount: ${this.registeredSignCount} at registration, ${count} after two sign-ins`);
  }

  /** A Twilio error answer of the API, shown as it came. */
  async apiErrorShown() {
    const page = this.requirePage();
    this.requireService();
    await page.fill("#identity", NO_PASSKEY_IDENTITY);
    await this.click("#sign-in");
    const error = await this.text("#error");
    const json = error.slice(error.indexOf("{"));
    let body;
    try {
      body = JSON.parse(json);
    } catch {
      throw new StepFailed(`#error shows no Twilio error JSON: ${show(error)}`);
    }
    expect(
      typeof body.code === "number" && typeof body.message === "string" && typeof body.status === "number",
      `#error: ${show(error)}`,
    );
    expect(body.status >= 400 && body.status < 500, `status of a sign-in with no passkey: ${show(body)}`);
    expectEq("more_info", body.more_info, `https://www.twilio.com/docs/errors/${body.code}`);
    expect(error.includes(`error ${body.code}: ${body.message}`), `#error does not say the code: ${show(error)}`);
    expectEq("#challenge-status", await this.text("#challenge-status"), "");
    console.log(`    a sign-in as ${NO_PASSKEY_IDENTITY}: HTTP ${body.status} ${body.code} ${body.message}`);
    await this.screenshot("6_api_error");

    // Wrong credentials: 401 20003, shown too, with no browser login prompt.
    await page.fill("#auth-token", `${AUTH_TOKEN}-wrong`);
    await page.fill("#identity", IDENTITY);
    await this.click("#sign-in");
    const refused = await this.text("#error");
    expect(refused.includes("HTTP 401") && refused.includes("20003"), `#error with a wrong token: ${show(refused)}`);
    await page.fill("#auth-token", AUTH_TOKEN);
  }

  async removedCredentialFails() {
    const page = this.requirePage();
    expect(this.credentialId !== null, "no passkey (an earlier step failed)");
    await this.cdp.send("WebAuthn.removeCredential", {
      authenticatorId: this.authenticatorId,
      credentialId: this.credentialId,
    });
    expectEq("credentials left on the authenticator", (await this.credentials()).length, 0);
    for (const [button, identity] of [["#sign-in", IDENTITY], ["#sign-in-discoverable", ""]]) {
      await page.fill("#identity", identity);
      await this.click(button);
      const error = await this.text("#error");
      expect(error.includes("NotAllowedError"), `${button}: #error: ${show(error)}`);
      // The server made a challenge; nothing approved it.
      expectEq(`${button}: #challenge-status`, await this.text("#challenge-status"), "pending");
      expectEq(`${button}: #challenge-identity`, await this.text("#challenge-identity"), "");
    }
    await this.screenshot("7_removed_credential");
  }

  /** The page's own base64url conversion (`?manual`), for browsers without the JSON methods. */
  async manualConversion() {
    const page = this.requirePage();
    const service = this.requireService();
    await page.goto(`${ORIGIN}/dev/passkeys?manual`);
    // An existing service, pasted.
    await page.fill("#account-sid", ACCOUNT_SID);
    await page.fill("#auth-token", AUTH_TOKEN);
    await page.fill("#service-sid", service);
    await page.fill("#identity", MANUAL_IDENTITY);
    await this.click("#register");
    await this.expectNoError("register (manual)");
    expectEq("#factor-status", await this.text("#factor-status"), "verified");
    expectEq("#json-mode", await this.text("#json-mode"), "this page's");
    for (const button of ["#sign-in", "#sign-in-discoverable"]) {
      await page.fill("#identity", button === "#sign-in" ? MANUAL_IDENTITY : "");
      await this.click(button);
      await this.expectNoError(`${button} (manual)`);
      expectEq(`${button}: #challenge-status`, await this.text("#challenge-status"), "approved");
      expectEq(`${button}: #challenge-identity`, await this.text("#challenge-identity"), MANUAL_IDENTITY);
    }
    await this.screenshot("8_manual_conversion");
  }

  async selfContained() {
    this.requirePage();
    expectEq("requests to other origins", show(this.foreignRequests), "[]");
    expectEq("page errors", show(this.pageErrors), "[]");
  }

  async deleteService() {
    const service = this.requireService();
    const [status] = await rest("DELETE", `/v2/Services/${service}`);
    expectEq("HTTP status of the delete", status, 204);
    this.serviceSid = null;
  }

  async close() {
    if (this.browser !== null) {
      await this.browser.close().catch(() => {});
    }
    if (this.serviceSid !== null) {
      await rest("DELETE", `/v2/Services/${this.serviceSid}`).catch(() => {});
    }
  }
}

process.exitCode = await runSteps(SCRIPT, () => {
  const run = new Run();
  return {
    steps: [
      ["launch_chromium", () => run.launch()],
      ["open_page", () => run.openPage()],
      ["set_up_service", () => run.setUpService()],
      ["register_passkey", () => run.register()],
      ["sign_in_with_identity", () => run.signInWithIdentity()],
      ["sign_in_without_identity", () => run.signInWithoutIdentity()],
      ["sign_count_grew", () => run.signCountGrew()],
      ["api_error_shown", () => run.apiErrorShown()],
      ["removed_credential_fails", () => run.removedCredentialFails()],
      ["manual_conversion", () => run.manualConversion()],
      ["self_contained", () => run.selfContained()],
      ["delete_service", () => run.deleteService()],
    ],
    onFailure: async (name) => {
      if (run.page !== null) {
        await run.screenshot(`failed_${name}`);
      }
    },
    cleanup: async () => {
      await run.close();
      if (run.screenshots.length > 0) {
        console.log(`    screenshots: ${run.screenshots.join(" ")}`);
      }
    },
  };
});
