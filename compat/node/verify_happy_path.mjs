// Compatibility: the Verify happy path, driven by the official Twilio helper library for
// Node.js (the `twilio` package, pinned in compat/node/package.json), plus the message
// templates, a service's messaging configurations and a TOTP factor.
//
// Run by `cargo xtask test` against a running `verifyd serve` in development mode (for the
// outbox), from target/compat-node, where the package is installed from package-lock.json.
// By hand: `npm ci` in compat/node, then `node verify_happy_path.mjs` with this environment:
//
//     VERIFYD_URL          the server's base URL, e.g. http://127.0.0.1:8080
//     VERIFYD_ACCOUNT_SID  an account SID (AC…)
//     VERIFYD_AUTH_TOKEN   its auth token
//
// Prints one line per step (`ok  name` or `FAIL name: reason`), then
// `compat verify_happy_path_node: N passed, M failed`, and exits 1 when a step failed.
//
// Pointing twilio-node at verifyd: as in twilio-python, every product of the client is a
// `Domain` (lib/base/Domain.js) whose `baseUrl` — for Verify "https://verify.twilio.com", set
// by lib/rest/VerifyBase.js — is a plain public property (typed `baseUrl: string` in
// Domain.d.ts) that `Domain.absoluteUrl` joins with `v2/Services/...` on every request. So
//
//     client.verify.baseUrl = "http://127.0.0.1:8080";   // without /v2
//
// once after creating the client sends every Verify request to verifyd and changes nothing
// else; no custom `httpClient` is needed. Pages follow the absolute `meta.next_page_url` the
// server returns (lib/base/Page.js), which verifyd builds on its own public URL.
// `client.edge` and `client.region` must stay unset: the client's `request` passes every
// host name through `getHostname` (lib/base/BaseTwilio.js), which with TWILIO_EDGE or
// TWILIO_REGION in the environment would rewrite it to `<product>.<edge>.<region>.<domain>`,
// so they are cleared explicitly. Unlike twilio-python's, `getHostname` runs even with both
// unset, and it keeps only three labels before the last two: a host such as
// `verify.dev.eu.internal.example.com` becomes `verify.dev.eu.example.com` (for the base URL
// and for every next_page_url alike). IP addresses, `localhost` and names of up to five labels
// pass unchanged; for a longer name, `client.getHostname = (host) => host` turns it off.
//
// Only twilio and Node's standard library are used (node:crypto for the TOTP code, the
// global fetch for the dev outbox).

import { createHmac } from "node:crypto";

import {
  ACCOUNT_SID,
  BASE_URL,
  StepFailed,
  basicAuth,
  expect,
  expectDate,
  expectEq,
  expectRestError,
  makeClient,
  runSteps,
  show,
} from "./support/index.mjs";

const SCRIPT = "verify_happy_path_node";
const PHONE = "+15017122661";
const CANCEL_PHONE = "+14155552671";
const EMAIL = "alice@example.com";
const IDENTITY = "user-node-1";
const FACTOR_NAME = "Jane's phone";

/** Twilio's date-time format, which every date_* field must have on the wire. */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** The code of the newest outbox message to `to`, read from verifyd's dev endpoint. */
async function outboxCode(to, verificationSid) {
  const query = new URLSearchParams({ to }); // `+` becomes %2B
  const response = await fetch(`${BASE_URL}/dev/outbox?${query}`, {
    headers: { Authorization: basicAuth() },
    signal: AbortSignal.timeout(10_000),
  });
  expectEq("outbox HTTP status", response.status, 200);
  const body = await response.json();
  const messages = body.messages;
  expect(Array.isArray(messages) && messages.length > 0, `the outbox has no message to ${to}: ${show(body)}`);
  const newest = messages[0];
  expectEq("outbox to", newest.to, to);
  expectEq("outbox verification_sid", newest.verification_sid, verificationSid);
  const code = newest.code;
  expect(typeof code === "string" && /^\d+$/.test(code), `outbox code: ${show(code)}`);
  expect(
    typeof newest.body === "string" && newest.body.includes(code),
    `the message body does not contain the code: ${show(newest.body)}`,
  );
  return code;
}

/** RFC 4648 base32, upper case, padding optional. */
function base32Decode(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const clean = text.replace(/=+$/, "").toUpperCase();
  const bytes = [];
  let bits = 0;
  let value = 0;
  for (const c of clean) {
    const index = alphabet.indexOf(c);
    if (index < 0) {
      throw new StepFailed(`the secret is not base32: ${show(text)}`);
    }
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

/** RFC 6238 with HMAC-SHA1: the code of the time step holding `seconds`. */
function totp(key, seconds, { step = 30, digits = 6 } = {}) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(seconds / step)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, "0");
}

class Run {
  constructor() {
    this.client = makeClient();
    this.serviceSid = null;
    this.verificationSid = null;
    this.code = null;
    this.factorSid = null;
    this.secret = null;
  }

  service() {
    expect(this.serviceSid !== null, "no service (an earlier step failed)");
    return this.client.verify.v2.services(this.serviceSid);
  }

  /** The JSON body of the last answer, as the library's default RequestClient received it. */
  lastBody() {
    return this.client.httpClient.lastResponse?.body ?? {};
  }

  // Services

  async createService() {
    const service = await this.client.verify.v2.services.create({ friendlyName: "compat happy path" });
    expect(typeof service.sid === "string" && service.sid.startsWith("VA"), `sid: ${show(service.sid)}`);
    this.serviceSid = service.sid;
    const raw = this.lastBody();
    expect(DATE_TIME.test(raw.date_created), `date_created on the wire: ${show(raw.date_created)}`);
    expect(DATE_TIME.test(raw.date_updated), `date_updated on the wire: ${show(raw.date_updated)}`);
    expectEq("accountSid", service.accountSid, ACCOUNT_SID);
    expectEq("friendlyName", service.friendlyName, "compat happy path");
    expectEq("codeLength", service.codeLength, 6);
    expectDate("dateCreated", service.dateCreated);
    expectDate("dateUpdated", service.dateUpdated);
    expectEq("dateCreated", service.dateCreated.toISOString().replace(".000Z", "Z"), raw.date_created);
    expectEq("url", service.url, `${BASE_URL}/v2/Services/${service.sid}`);
    expect(service.links && typeof service.links.verifications === "string", `links: ${show(service.links)}`);
  }

  async fetchService() {
    const service = await this.service().fetch();
    expectEq("sid", service.sid, this.serviceSid);
    expectEq("friendlyName", service.friendlyName, "compat happy path");
    expectEq("codeLength", service.codeLength, 6);
  }

  async updateService() {
    let service = await this.service().update({ friendlyName: "compat renamed", codeLength: 8 });
    expectEq("friendlyName", service.friendlyName, "compat renamed");
    expectEq("codeLength", service.codeLength, 8);
    // An update never resets what it was not sent; go back to 6 for the steps below.
    service = await this.service().update({ codeLength: 6 });
    expectEq("friendlyName after a second update", service.friendlyName, "compat renamed");
    expectEq("codeLength", service.codeLength, 6);
  }

  async listServices() {
    // Two more services, so that pages of one make the library follow next_page_url twice.
    const services = this.client.verify.v2.services;
    const others = [];
    try {
      for (const name of ["compat second", "compat third"]) {
        others.push((await services.create({ friendlyName: name })).sid);
      }
      const sids = (await services.list()).map((s) => s.sid);
      for (const sid of [this.serviceSid, ...others]) {
        expect(sids.includes(sid), `${sid} is not in the list ${show(sids)}`);
      }
      // The library's own paging: list() with pageSize 1 walks every page.
      const paged = (await services.list({ pageSize: 1 })).map((s) => s.sid);
      expectEq("services listed one per page", show([...paged].sort()), show([...sids].sort()));
      // And page by page, by hand: every next page URL stays on this server.
      let page = await services.page({ pageSize: 1 });
      const walked = [];
      let pages = 0;
      for (;;) {
        pages += 1;
        expect(page.instances.length <= 1, `page ${pages} holds ${page.instances.length} services`);
        walked.push(...page.instances.map((s) => s.sid));
        if (!page.nextPageUrl) {
          break;
        }
        expect(
          page.nextPageUrl.startsWith(`${BASE_URL}/v2/Services?`),
          `next_page_url leaves the server: ${show(page.nextPageUrl)}`,
        );
        expect(pages < 100, "more than 100 pages of one service: next_page_url never ends");
        page = await page.nextPage();
      }
      expect(pages >= sids.length, `${pages} pages of one for ${sids.length} services`);
      expectEq("services read page by page", show([...walked].sort()), show([...sids].sort()));
    } finally {
      for (const sid of others) {
        await services(sid).remove();
      }
    }
  }

  // An SMS verification

  async startSms() {
    const verification = await this.service().verifications.create({ to: PHONE, channel: "sms" });
    expect(
      typeof verification.sid === "string" && verification.sid.startsWith("VE"),
      `sid: ${show(verification.sid)}`,
    );
    this.verificationSid = verification.sid;
    expectEq("to (the + must survive the form encoding)", verification.to, PHONE);
    expectEq("serviceSid", verification.serviceSid, this.serviceSid);
    expectEq("accountSid", verification.accountSid, ACCOUNT_SID);
    expectEq("channel", verification.channel, "sms");
    expectEq("status", verification.status, "pending");
    expectEq("valid", verification.valid, false);
    expectDate("dateCreated", verification.dateCreated);
    expect(
      Array.isArray(verification.sendCodeAttempts) && verification.sendCodeAttempts.length === 1,
      `sendCodeAttempts: ${show(verification.sendCodeAttempts)}`,
    );
    this.code = await outboxCode(PHONE, verification.sid);
    expectEq("code length", this.code.length, 6);
  }

  async checkWrongCode() {
    expect(this.code !== null, "no code (an earlier step failed)");
    const ones = "1".repeat(this.code.length);
    const wrong = this.code !== ones ? ones : "2".repeat(this.code.length);
    const check = await this.service().verificationChecks.create({ to: PHONE, code: wrong });
    expectEq("status", check.status, "pending");
    expectEq("valid", check.valid, false);
    expectEq("sid", check.sid, this.verificationSid);
    expectEq("to", check.to, PHONE);
  }

  async checkRightCode() {
    expect(this.code !== null, "no code (an earlier step failed)");
    const check = await this.service().verificationChecks.create({ to: PHONE, code: this.code });
    expectEq("status", check.status, "approved");
    expectEq("valid", check.valid, true);
    expectEq("sid", check.sid, this.verificationSid);
    expectEq("channel", check.channel, "sms");
    expectDate("dateUpdated", check.dateUpdated);
  }

  async checkAgain() {
    expect(this.code !== null, "no code (an earlier step failed)");
    await expectRestError(
      "a check after approval",
      () => this.service().verificationChecks.create({ to: PHONE, code: this.code }),
      404,
      20404,
    );
  }

  // Other verifications

  async approveEmail() {
    const verification = await this.service().verifications.create({ to: EMAIL, channel: "email" });
    expectEq("channel", verification.channel, "email");
    expectEq("to", verification.to, EMAIL);
    expectEq("status", verification.status, "pending");
    const approved = await this.service().verifications(verification.sid).update({ status: "approved" });
    expectEq("status after update", approved.status, "approved");
    expectEq("valid after update", approved.valid, true);
    await expectRestError(
      "a fetch after approval",
      () => this.service().verifications(verification.sid).fetch(),
      404,
      20404,
    );
  }

  async cancelVerification() {
    const verification = await this.service().verifications.create({ to: CANCEL_PHONE, channel: "sms" });
    expectEq("to", verification.to, CANCEL_PHONE);
    const fetched = await this.service().verifications(verification.sid).fetch();
    expectEq("status of a fetch", fetched.status, "pending");
    const canceled = await this.service().verifications(verification.sid).update({ status: "canceled" });
    expectEq("status after update", canceled.status, "canceled");
    expectEq("valid after update", canceled.valid, false);
    await expectRestError(
      "a fetch after cancel",
      () => this.service().verifications(verification.sid).fetch(),
      404,
      20404,
    );
  }

  async badTo() {
    const e = await expectRestError(
      "a verification to a malformed number",
      () => this.service().verifications.create({ to: "12345", channel: "sms" }),
      400,
      60200,
    );
    expect(typeof e.message === "string" && e.message.includes("Invalid parameter: To"), `message: ${show(e.message)}`);
    expectEq("moreInfo", e.moreInfo, "https://www.twilio.com/docs/errors/60200");
  }

  /** A number that cannot exist (no +999 calling code) is refused as Twilio does. */
  async impossibleTo() {
    await expectRestError(
      "a verification to a number of no country",
      () => this.service().verifications.create({ to: "+999123456789", channel: "sms" }),
      400,
      60200,
    );
  }

  // Message templates and messaging configurations

  async listTemplates() {
    const templates = await this.client.verify.v2.templates.list({ limit: 20 });
    expect(templates.length >= 1, `no template listed: ${show(templates)}`);
    const bundled = templates[0];
    expect(typeof bundled.sid === "string" && bundled.sid.startsWith("HJ"), `sid: ${show(bundled.sid)}`);
    expectEq("accountSid", bundled.accountSid, ACCOUNT_SID);
    expect(Array.isArray(bundled.channels) && bundled.channels.includes("sms"), `channels: ${show(bundled.channels)}`);
    const en = bundled.translations?.en;
    expect(typeof en?.text === "string" && en.text.includes("{{code}}"), `translations.en: ${show(en)}`);
    const filtered = await this.client.verify.v2.templates.list({ friendlyName: bundled.friendlyName });
    expect(filtered.some((t) => t.sid === bundled.sid), `the FriendlyName filter lost it: ${show(filtered)}`);
  }

  async messagingConfigurations() {
    const first = "MG" + "1".repeat(32);
    const second = "MG" + "2".repeat(32);
    const created = await this.service().messagingConfigurations.create({ country: "ca", messagingServiceSid: first });
    expectEq("country", created.country, "CA");
    expectEq("messagingServiceSid", created.messagingServiceSid, first);
    expectEq("serviceSid", created.serviceSid, this.serviceSid);
    expectDate("dateCreated", created.dateCreated);
    await expectRestError(
      "a second configuration for one country",
      () => this.service().messagingConfigurations.create({ country: "CA", messagingServiceSid: second }),
      409,
      20409,
    );
    await this.service().messagingConfigurations.create({ country: "all", messagingServiceSid: second });
    const listed = await this.service().messagingConfigurations.list();
    expectEq("listed countries", show(listed.map((m) => m.country)), show(["CA", "all"]));
    const updated = await this.service().messagingConfigurations("CA").update({ messagingServiceSid: second });
    expectEq("updated messagingServiceSid", updated.messagingServiceSid, second);
    const fetched = await this.service().messagingConfigurations("CA").fetch();
    expectEq("fetched messagingServiceSid", fetched.messagingServiceSid, second);
    expectEq("removed", await this.service().messagingConfigurations("CA").remove(), true);
    await expectRestError("a fetch after delete", () => this.service().messagingConfigurations("CA").fetch(), 404, 20404);
  }

  // A TOTP factor, its code computed here

  async createFactor() {
    const factor = await this.service()
      .entities(IDENTITY)
      .newFactors.create({ friendlyName: FACTOR_NAME, factorType: "totp" });
    expect(typeof factor.sid === "string" && factor.sid.startsWith("YF"), `sid: ${show(factor.sid)}`);
    this.factorSid = factor.sid;
    expectEq("status", factor.status, "unverified");
    expectEq("factorType", factor.factorType, "totp");
    expectEq("identity", factor.identity, IDENTITY);
    expectEq("friendlyName", factor.friendlyName, FACTOR_NAME);
    expectEq("serviceSid", factor.serviceSid, this.serviceSid);
    const config = factor.config ?? {};
    expectEq("config.alg", config.alg, "sha1");
    expectEq("config.code_length", config.code_length, 6);
    expectEq("config.time_step", config.time_step, 30);
    const binding = factor.binding ?? {};
    expect(typeof binding.secret === "string" && binding.secret !== "", `binding.secret: ${show(binding)}`);
    expect(
      typeof binding.uri === "string" && binding.uri.startsWith("otpauth://totp/"),
      `binding.uri: ${show(binding)}`,
    );
    expectEq("secret in binding.uri", new URL(binding.uri).searchParams.get("secret"), binding.secret);
    this.secret = binding.secret;
  }

  async verifyFactor() {
    expect(this.factorSid !== null && this.secret !== null, "no factor (an earlier step failed)");
    const factor = () => this.service().entities(IDENTITY).factors(this.factorSid);
    const key = base32Decode(this.secret);
    const right = totp(key, Date.now() / 1000);
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, "0");
    const rejected = await factor().update({ authPayload: wrong });
    expectEq("status after a wrong code", rejected.status, "unverified");
    // Computed again: a step may have passed since (skew 1 would admit the old one anyway).
    const verified = await factor().update({ authPayload: totp(key, Date.now() / 1000) });
    expectEq("status", verified.status, "verified");
    const fetched = await factor().fetch();
    expectEq("status of a fetch", fetched.status, "verified");
  }

  async deleteService() {
    expectEq("delete", await this.service().remove(), true);
    await expectRestError("a fetch after delete", () => this.service().fetch(), 404, 20404);
    this.serviceSid = null;
  }
}

process.exitCode = await runSteps(SCRIPT, () => {
  const run = new Run();
  return {
    steps: [
      ["create_service", () => run.createService()],
      ["fetch_service", () => run.fetchService()],
      ["update_service", () => run.updateService()],
      ["list_services", () => run.listServices()],
      ["start_sms", () => run.startSms()],
      ["check_wrong_code", () => run.checkWrongCode()],
      ["check_right_code", () => run.checkRightCode()],
      ["check_again", () => run.checkAgain()],
      ["approve_email", () => run.approveEmail()],
      ["cancel_verification", () => run.cancelVerification()],
      ["bad_to", () => run.badTo()],
      ["impossible_to", () => run.impossibleTo()],
      ["list_templates", () => run.listTemplates()],
      ["messaging_configurations", () => run.messagingConfigurations()],
      ["create_totp_factor", () => run.createFactor()],
      ["verify_totp_factor", () => run.verifyFactor()],
      ["delete_service", () => run.deleteService()],
    ],
    // delete_service failed: try once more so a rerun against the same server starts clean.
    cleanup: async () => {
      if (run.serviceSid !== null) {
        await run.service().remove();
      }
    },
  };
});
