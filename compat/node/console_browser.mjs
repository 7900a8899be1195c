// Compatibility: the console in a real browser. Headless Chromium (the system's
// /usr/bin/chromium, Debian's package `chromium`, driven by playwright-core, pinned in
// compat/node/package.json) signs in to /console/, creates a service, starts a verification,
// reads its code in the inbox and approves it with that code, enrols a TOTP factor by reading
// the QR code's URI back from the rendered image (jsqr, on a PNG screenshot read by pngjs),
// verifies it with a code computed here, and sees a webhook delivery to a receiver this
// script runs. Each step keeps a screenshot.
//
// Run by `cargo xtask test` against a running `verifyd serve` in development mode (the
// console is on there by default), from target/compat-node. By hand: `npm ci` in
// compat/node, then `node console_browser.mjs` with this environment:
//
//     VERIFYD_URL            the server's base URL, e.g. http://127.0.0.1:8080
//     VERIFYD_ACCOUNT_SID    an account SID (AC…)
//     VERIFYD_AUTH_TOKEN     its auth token
//     VERIFYD_CHROMIUM       the browser (default /usr/bin/chromium)
//     VERIFYD_ARTIFACTS_DIR  where the screenshots go (xtask: target/compat-artifacts;
//                            default: compat-artifacts in the system's temporary directory)
//
// Prints one line per step (`ok  name` or `FAIL name: reason`), then
// `compat console_browser: N passed, M failed`, and exits 1 when a step failed.

import { createHmac } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

import jsQR from "jsqr";
import { PNG } from "pngjs";
import { chromium } from "playwright-core";

import { ACCOUNT_SID, AUTH_TOKEN, BASE_URL, basicAuth, expect, expectEq, runSteps, show } from "./support/index.mjs";

const SCRIPT = "console_browser";
const TO = "+15017122661";
const IDENTITY = "console-user-1";
/** How long one step's page actions may take. */
const STEP_TIMEOUT_MS = 30_000;
/** How long a webhook delivery may take to show (the server delivers every second). */
const DELIVERY_TIMEOUT_MS = 20_000;

const CHROMIUM = process.env.VERIFYD_CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = resolve(process.env.VERIFYD_ARTIFACTS_DIR || join(tmpdir(), "compat-artifacts"));

/** RFC 4648 base32 (no padding) to bytes. */
function base32(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of text.replace(/=+$/, "").toUpperCase()) {
    const index = alphabet.indexOf(ch);
    expect(index >= 0, `not base32: ${show(text)}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** The TOTP code (RFC 6238) of an `otpauth://totp/…` URI at `unixSeconds`. */
function totp(uri, unixSeconds) {
  const url = new URL(uri);
  const algorithm = (url.searchParams.get("algorithm") || "SHA1").toLowerCase();
  const digits = Number(url.searchParams.get("digits") || 6);
  const period = Number(url.searchParams.get("period") || 30);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / period)));
  const digest = createHmac(algorithm, base32(url.searchParams.get("secret"))).update(counter).digest();
  const offset = digest[digest.length - 1] & 0x0f;
  const binary = digest.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, "0");
}

/** A REST call to the server, outside the browser: [status, JSON body]. */
async function rest(method, path, form) {
  const response = await fetch(`${BASE_URL}${path}`, {
    method,
    headers: {
      Authorization: basicAuth(),
      Accept: "application/json",
      ...(form ? { "Content-Type": "application/x-www-form-urlencoded" } : {}),
    },
    body: form ? new URLSearchParams(form).toString() : undefined,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  return [response.status, text ? JSON.parse(text) : null];
}

/** A webhook receiver on 127.0.0.1 that records each delivery's form fields. */
class Receiver {
  constructor() {
    this.received = [];
    this.server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk) => {
        body += chunk;
      });
      request.on("end", () => {
        this.received.push(Object.fromEntries(new URLSearchParams(body)));
        response.writeHead(200).end();
      });
    });
  }

  async start() {
    await new Promise((done) => this.server.listen(0, "127.0.0.1", done));
    return `http://127.0.0.1:${this.server.address().port}/hook`;
  }

  close() {
    this.server.close();
  }
}

class Run {
  constructor() {
    this.browser = null;
    this.page = null;
    this.serviceSid = null;
    this.code = null;
    this.factorSid = null;
    this.receiver = new Receiver();
    this.screenshots = [];
    this.foreignRequests = [];
    this.pageErrors = [];
  }

  requirePage() {
    expect(this.page !== null, "no page (an earlier step failed)");
    return this.page;
  }

  requireService() {
    expect(this.serviceSid !== null, "no service (an earlier step failed)");
    return this.serviceSid;
  }

  async screenshot(name, page = this.page) {
    const path = join(ARTIFACTS, `console_${name}.png`);
    await page.screenshot({ path, fullPage: true });
    this.screenshots.push(path);
  }

  async text(selector) {
    return ((await this.requirePage().textContent(selector)) ?? "").trim();
  }

  /** The notice the page shows after a change. */
  async notice() {
    return this.text("p.notice");
  }

  watch(page) {
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.on("request", (request) => {
      const url = new URL(request.url());
      if (url.origin !== new URL(BASE_URL).origin && url.protocol !== "data:") {
        this.foreignRequests.push(request.url());
      }
    });
    page.on("pageerror", (error) => this.pageErrors.push(`uncaught: ${error.message}`));
    page.on("console", (message) => {
      if (message.text().includes("Content Security Policy")) {
        this.pageErrors.push(`CSP: ${message.text()}`);
      }
    });
  }

  async launch() {
    expect(
      existsSync(CHROMIUM),
      `no browser at ${CHROMIUM}: install Debian's package chromium (apt-get install -y chromium) ` +
        "or set VERIFYD_CHROMIUM",
    );
    mkdirSync(ARTIFACTS, { recursive: true });
    this.browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 60_000 });
    // A laptop's window; a phone's comes later.
    const context = await this.browser.newContext({ viewport: { width: 1100, height: 800 } });
    this.page = await context.newPage();
    this.watch(this.page);
    console.log(`    Chromium ${this.browser.version()} at ${CHROMIUM}; console ${BASE_URL}/console/`);
    console.log(`    screenshots in ${ARTIFACTS}`);
  }

  async signIn() {
    const page = this.requirePage();
    const answer = await page.goto(`${BASE_URL}/console`);
    expectEq("HTTP status of /console (after its redirect)", answer.status(), 200);
    expectEq("the login page's address", new URL(page.url()).pathname, "/console/");
    await this.screenshot("login");
    await page.fill("#username", ACCOUNT_SID);
    await page.fill("#password", "not-the-token");
    await page.click("#sign-in");
    expect((await this.text("p.error")).includes("not accepted"), "a wrong token is refused on the page");
    await page.fill("#username", ACCOUNT_SID);
    await page.fill("#password", AUTH_TOKEN);
    await page.click("#sign-in");
    expectEq("the page after signing in", new URL(page.url()).pathname, "/console/inbox");
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === "verifyd_console");
    expect(session !== undefined, `no session cookie: ${show(cookies.map((c) => c.name))}`);
    expect(session.httpOnly && session.sameSite === "Strict", `the session cookie: ${show(session)}`);
    expectEq("scripts see the session cookie", await page.evaluate(() => document.cookie.includes("verifyd_console=")), false);
  }

  async createService() {
    const page = this.requirePage();
    await page.click("nav >> text=Services");
    await page.fill("#service-name", "Console Co");
    await page.click("#create-service");
    expectEq("the notice", await this.notice(), "Service created.");
    expectEq("the service page's title", await this.text("h1"), "Console Co");
    this.serviceSid = await this.text("main > p.sid");
    expect(this.serviceSid.startsWith("VA"), `the service SID: ${show(this.serviceSid)}`);
  }

  async subscribeWebhook() {
    const service = this.requireService();
    const url = await this.receiver.start();
    const [status, body] = await rest("POST", `/v2/Services/${service}/Webhooks`, {
      FriendlyName: "Receiver",
      EventTypes: "*",
      WebhookUrl: url,
    });
    expectEq(`HTTP status of the webhook's creation (${show(body)})`, status, 201);
  }

  async startVerification() {
    const page = this.requirePage();
    await page.fill("#verification-to", TO);
    await page.selectOption("#verification-channel", "sms");
    await page.click("#start-verification");
    expect((await this.notice()).startsWith("Verification started"), `the notice: ${await this.notice()}`);
    const status = await this.text("#verifications tbody tr:first-child td.status");
    expectEq("the new verification's status", status, "pending");
  }

  async readCodeInInbox() {
    const page = this.requirePage();
    await page.click("nav >> text=Inbox");
    const message = page.locator(`article.message[data-to="${TO}"]`).first();
    this.code = ((await message.locator(".code").textContent()) ?? "").trim();
    expect(/^\d{4,10}$/.test(this.code), `the code in the inbox: ${show(this.code)}`);
    const body = (await message.locator(".body").textContent()) ?? "";
    expect(body.includes(this.code), `the message's text holds the code: ${show(body)}`);
    // The code is large: at least twice the text's size.
    const sizes = await page.evaluate(() => ({
      code: parseFloat(getComputedStyle(document.querySelector("article.message .code")).fontSize),
      text: parseFloat(getComputedStyle(document.body).fontSize),
    }));
    expect(sizes.code >= 2 * sizes.text, `the code's size: ${show(sizes)}`);
    await this.screenshot("inbox");
  }

  async approveWithTheCode() {
    const page = this.requirePage();
    await page.goto(`${BASE_URL}/console/services/${this.requireService()}`);
    const row = page.locator("#verifications tbody tr").first();
    await row.locator("input[name=code]").fill(this.code);
    await row.locator("button.check").click();
    expectEq("the notice", await this.notice(), "Approved.");
    expectEq("the verification's status", await this.text("#verifications tbody tr:first-child td.status"), "approved");
    await this.screenshot("service");
  }

  async enrolTotpFromTheQrCode() {
    const page = this.requirePage();
    await page.fill("#totp-identity", IDENTITY);
    await page.click("#enrol-totp");
    expectEq("the enrolment page's title", await this.text("h1"), "Enrol a TOTP factor");
    await this.screenshot("totp_enrolment");
    // Read the QR code as an app would: from the rendered image.
    const png = PNG.sync.read(await page.locator("#totp-qr svg").screenshot());
    const decoded = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
    expect(decoded !== null, "the QR code does not decode");
    const uri = decoded.data;
    expect(uri.startsWith("otpauth://totp/"), `the QR code's text: ${show(uri)}`);
    expectEq("the QR code's URI against the one written out", uri, await this.text("#totp-uri"));
    const secret = new URL(uri).searchParams.get("secret");
    expectEq("the secret written out", await this.text("#totp-secret"), secret);
    const [status, body] = await rest("GET", `/v2/Services/${this.requireService()}/Entities/${IDENTITY}/Factors`);
    expectEq("HTTP status of the factors' list", status, 200);
    expectEq("factors of the identity", body.factors.length, 1);
    expectEq("the new factor's status", body.factors[0].status, "unverified");
    this.factorSid = body.factors[0].sid;
    await page.fill("#totp-code", totp(uri, Date.now() / 1000));
    await page.click("#verify-factor");
    expectEq("the notice", await this.notice(), "Factor verified.");
    expectEq("the factor's status", await this.text(`tr[data-factor="${this.factorSid}"] td.status`), "verified");
    await this.screenshot("entity");
  }

  async seeWebhookDelivery() {
    const page = this.requirePage();
    await page.goto(`${BASE_URL}/console/services/${this.requireService()}`);
    await page.click("#webhooks a");
    const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
    let statuses = [];
    while (Date.now() < deadline) {
      statuses = await page.locator("#deliveries td.status").allTextContents();
      if (statuses.length >= 2 && statuses.every((s) => s.trim() === "delivered")) {
        break;
      }
      await page.waitForTimeout(500);
      await page.reload();
    }
    expect(statuses.length >= 2, `deliveries shown: ${show(statuses)}`);
    expect(statuses.every((s) => s.trim() === "delivered"), `the deliveries' statuses: ${show(statuses)}`);
    const events = (await page.locator("#deliveries tbody tr td:first-child").allTextContents()).map((e) => e.trim());
    for (const event of ["factor.created", "factor.verified"]) {
      expect(events.includes(event), `no ${event} delivery: ${show(events)}`);
      expect(this.receiver.received.some((r) => r.type === event), `the receiver got no ${event}`);
    }
    await this.screenshot("webhook");
  }

  async readableOnAPhone() {
    const context = await this.browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
      storageState: await this.requirePage().context().storageState(),
    });
    const phone = await context.newPage();
    this.watch(phone);
    for (const path of ["/console/inbox", `/console/services/${this.requireService()}`]) {
      await phone.goto(`${BASE_URL}${path}`);
      const width = await phone.evaluate(() => ({
        page: document.documentElement.scrollWidth,
        viewport: document.documentElement.clientWidth,
      }));
      expect(width.page <= width.viewport, `${path} is wider than the phone: ${show(width)}`);
    }
    await phone.goto(`${BASE_URL}/console/inbox`);
    await this.screenshot("phone_inbox", phone);
    await context.close();
  }

  async signOut() {
    const page = this.requirePage();
    await page.click("form.signout button");
    expectEq("the page after signing out", new URL(page.url()).pathname, "/console/");
    await page.goto(`${BASE_URL}/console/inbox`);
    expectEq("the inbox after signing out", new URL(page.url()).pathname, "/console/");
  }

  async selfContained() {
    expectEq("requests to other origins", show(this.foreignRequests), "[]");
    expectEq("page errors and policy reports", show(this.pageErrors), "[]");
  }

  async deleteService() {
    const [status] = await rest("DELETE", `/v2/Services/${this.requireService()}`);
    expectEq("HTTP status of the delete", status, 204);
    this.serviceSid = null;
  }

  async close() {
    this.receiver.close();
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
      ["sign_in", () => run.signIn()],
      ["create_service", () => run.createService()],
      ["subscribe_webhook", () => run.subscribeWebhook()],
      ["start_verification", () => run.startVerification()],
      ["read_code_in_inbox", () => run.readCodeInInbox()],
      ["approve_with_the_code", () => run.approveWithTheCode()],
      ["enrol_totp_from_the_qr_code", () => run.enrolTotpFromTheQrCode()],
      ["see_webhook_delivery", () => run.seeWebhookDelivery()],
      ["readable_on_a_phone", () => run.readableOnAPhone()],
      ["sign_out", () => run.signOut()],
      ["self_contained", () => run.selfContained()],
      ["delete_service", () => run.deleteService()],
    ],
    onFailure: async (name) => {
      if (run.page !== null) {
        await run.screenshot(`failed_${name}`).catch(() => {});
      }
    },
    cleanup: async () => {
      await run.close();
      if (run.screenshots.length > 0) {
        console.log(`    screenshots: ${run.screenshots.join(", ")}`);
      }
    },
  };
});
