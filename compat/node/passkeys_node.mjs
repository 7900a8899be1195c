// Compatibility: passkeys (WebAuthn credentials as factors), driven by the official Twilio
// helper library for Node.js (the `twilio` package, pinned in compat/node/package.json):
// `services.create({"passkeys.…"})`, `newFactors.create`, `newVerifyFactors.update`,
// `newChallenge().create`, `approveChallenge.update`, and the factor and challenge read back
// through `entities(identity)`, with a software authenticator written here standing in for
// the browser and its passkey. The twilio-node twin of compat/passkeys.py, step for step.
//
// Run by `cargo xtask test` against a running `verifyd serve`, from target/compat-node, where
// the package is installed from package-lock.json. By hand: `npm ci` in compat/node, then
// `node passkeys_node.mjs` with this environment:
//
//     VERIFYD_URL          the server's base URL, e.g. http://127.0.0.1:8080
//     VERIFYD_ACCOUNT_SID  an account SID (AC…)
//     VERIFYD_AUTH_TOKEN   its auth token
//
// Prints one line per step (`ok  name` or `FAIL name: reason`), then
// `compat passkeys_node: N passed, M failed`, and exits 1 when a step failed.
//
// The client is pointed at verifyd as in verify_happy_path.mjs (see there): `client.verify
// .baseUrl = VERIFYD_URL`, with `client.edge` and `client.region` cleared.
//
// The Passkeys operations are JSON operations, and twilio-node sends what is given to them
// as the JSON body, unchanged (lib/base/RequestClient.js passes `data` to axios as is when
// the Content-Type is application/json). So each call here is given a plain object with the
// wire's keys: `{friendly_name, identity}`, `{identity}`, and the browser's `toJSON()` of the
// credential. The library's own request classes (`CreateNewPasskeysFactorRequest`,
// `CreatePasskeysChallengeRequest`, which its .d.ts files name as the parameters' types) are
// not used: their constructors rename `friendly_name` to `friendlyName` and `factor_sid` to
// `factorSid`, and those camelCase keys are what would be sent. The answers are the
// library's instances (`options`, `config` and `passkeys` left as the wire's JSON).
//
// The authenticator (class `Authenticator`) does what a browser and a platform authenticator
// do for WebAuthn Level 2 with attestation "none": an ES256 (P-256) key pair from node:crypto,
// the client data JSON, the authenticator data (RP ID hash, flags UP, UV and, at creation, AT;
// the signature counter; at creation the attested credential data with the COSE public key),
// the attestation object in CBOR (a small encoder below: only what these structures use), and
// the assertion's DER ECDSA signature over the authenticator data and the client data's hash.
// Everything it sends is base64url without padding, as browsers' JSON serialisation of a
// `PublicKeyCredential` is.
//
// Steps: a service with passkey settings; a registration (factor created, credential made,
// factor verified, fetched); the same registration answer again (refused); a sign-in with the
// identity (challenge, assertion, approved); the same assertion again (refused); an assertion
// from a wrong origin (refused, the challenge still pending and approved after by the right
// one); a sign-in without identity (a discoverable passkey names the user); the approved
// challenge read back; another service refusing this service's assertion.
//
// Only twilio and Node's standard library are used.

import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { isDeepStrictEqual } from "node:util";

import {
  ACCOUNT_SID,
  expect,
  expectDate,
  expectEq,
  expectRestError,
  makeClient,
  runSteps,
  show,
} from "./support/index.mjs";

const SCRIPT = "passkeys_node";
const RP_ID = "example.com";
const RP_NAME = "Example";
const ORIGIN = "https://example.com";
const WRONG_ORIGIN = "https://evil.example.net";
const FACTOR_NAME = "Jane's laptop";

// WebAuthn authenticator data flags.
const USER_PRESENT = 0x01;
const USER_VERIFIED = 0x04;
const ATTESTED_DATA = 0x40;


/** The passkey settings the service is created with, as the API answers them. */
const PASSKEYS = {
  relying_party: { id: RP_ID, name: RP_NAME, origins: [ORIGIN] },
  authenticator_attachment: "platform",
  discoverable_credentials: "preferred",
  user_verification: "preferred",
};

/** Deep equality, for the JSON objects the library leaves as the wire's. */
function expectSame(what, got, want) {
  expect(isDeepStrictEqual(got, want), `${what}: got ${show(got)}, want ${show(want)}`);
}

function b64url(bytes) {
  return Buffer.from(bytes).toString("base64url"); // RFC 4648 §5, without padding
}

function sha256(data) {
  return createHash("sha256").update(data).digest();
}

function u16(n) {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u32(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/**
 * CBOR (RFC 8949) of the few kinds the attestation object uses: integers, byte strings
 * (Buffer / Uint8Array), text strings, and maps (a `Map`, or a plain object for text keys),
 * written in the order given: the caller gives the canonical order.
 */
function cbor(value) {
  const head = (major, n) => {
    if (n < 24) {
      return Buffer.from([(major << 5) | n]);
    }
    if (n < 0x100) {
      return Buffer.from([(major << 5) | 24, n]);
    }
    if (n < 0x10000) {
      return Buffer.concat([Buffer.from([(major << 5) | 25]), u16(n)]);
    }
    if (n < 0x100000000) {
      return Buffer.concat([Buffer.from([(major << 5) | 26]), u32(n)]);
    }
    throw new TypeError(`too large for this CBOR encoder: ${n}`);
  };
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) {
      throw new TypeError(`no CBOR here for the number ${value}`);
    }
    return value >= 0 ? head(0, value) : head(1, -1 - value);
  }
  if (value instanceof Uint8Array) {
    return Buffer.concat([head(2, value.length), value]);
  }
  if (typeof value === "string") {
    const data = Buffer.from(value, "utf8");
    return Buffer.concat([head(3, data.length), data]);
  }
  if (value instanceof Map || (value !== null && typeof value === "object" && !Array.isArray(value))) {
    const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
    return Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, v]) => [cbor(k), cbor(v)])]);
  }
  throw new TypeError(`no CBOR for ${show(value)}`);
}

/**
 * One passkey: a P-256 key pair, its credential ID and signature counter, and the user
 * handle it was made for, as a browser and a platform authenticator keep and use them.
 */
class Authenticator {
  constructor(rpId = RP_ID, origin = ORIGIN) {
    this.rpId = rpId;
    this.origin = origin;
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    this.privateKey = privateKey;
    this.publicJwk = publicKey.export({ format: "jwk" });
    this.credentialId = randomBytes(32);
    this.counter = 0;
    this.userHandle = null;
  }

  clientData(type, challenge, origin) {
    return Buffer.from(
      JSON.stringify({ type, challenge, origin: origin ?? this.origin, crossOrigin: false }),
      "utf8",
    );
  }

  authenticatorData(attested) {
    this.counter += 1;
    const flags = USER_PRESENT | USER_VERIFIED | (attested ? ATTESTED_DATA : 0);
    const parts = [sha256(Buffer.from(this.rpId, "utf8")), Buffer.from([flags]), u32(this.counter)];
    if (attested) {
      // JWK coordinates are the full 32 bytes (RFC 7518 §6.2.1.2), as COSE wants them.
      const coseKey = new Map([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, Buffer.from(this.publicJwk.x, "base64url")],
        [-3, Buffer.from(this.publicJwk.y, "base64url")],
      ]);
      const aaguid = Buffer.alloc(16);
      parts.push(aaguid, u16(this.credentialId.length), this.credentialId, cbor(coseKey));
    }
    return Buffer.concat(parts);
  }

  /**
   * `navigator.credentials.create()`: the registration answer (JSON) to `options`
   * (`{publicKey: {...}}` as the server gave them).
   */
  create(options) {
    const publicKey = options?.publicKey;
    expect(publicKey, `registration options without publicKey: ${show(options)}`);
    expectEq("options rp.id", publicKey.rp?.id, this.rpId);
    this.userHandle = publicKey.user.id;
    const clientData = this.clientData("webauthn.create", publicKey.challenge);
    const attestation = cbor({ fmt: "none", attStmt: {}, authData: this.authenticatorData(true) });
    return {
      id: b64url(this.credentialId),
      rawId: b64url(this.credentialId),
      authenticatorAttachment: "platform",
      type: "public-key",
      response: {
        attestationObject: b64url(attestation),
        clientDataJSON: b64url(clientData),
        transports: ["internal"],
      },
    };
  }

  /**
   * `navigator.credentials.get()`: the assertion (JSON) answering `options`, as made from
   * `origin` (the relying party's own by default).
   */
  get(options, origin) {
    const publicKey = options?.publicKey;
    expect(publicKey, `authentication options without publicKey: ${show(options)}`);
    expectEq("options rpId", publicKey.rpId, this.rpId);
    const allowed = (publicKey.allowCredentials ?? []).map((c) => c.id);
    expect(
      allowed.length === 0 || allowed.includes(b64url(this.credentialId)),
      `allowCredentials ${show(allowed)} lack this passkey`,
    );
    const clientData = this.clientData("webauthn.get", publicKey.challenge, origin);
    const authData = this.authenticatorData(false);
    // DER (the default dsaEncoding), as WebAuthn's ES256 signatures are.
    const signature = sign("sha256", Buffer.concat([authData, sha256(clientData)]), this.privateKey);
    return {
      id: b64url(this.credentialId),
      rawId: b64url(this.credentialId),
      authenticatorAttachment: "platform",
      type: "public-key",
      response: {
        authenticatorData: b64url(authData),
        clientDataJSON: b64url(clientData),
        signature: b64url(signature),
        userHandle: this.userHandle,
      },
    };
  }
}

class Run {
  constructor() {
    this.client = makeClient();
    this.v2 = this.client.verify.v2;
    this.serviceSid = null;
    this.otherSid = null;
    this.identity = `user-${randomBytes(8).toString("hex")}`;
    this.authenticator = new Authenticator();
    this.factorSid = null;
    this.entitySid = null;
    this.registration = null;
    this.assertion = null;
    this.discoverableChallengeSid = null;
  }

  service(other = false) {
    const sid = other ? this.otherSid : this.serviceSid;
    expect(sid !== null, "no service (an earlier step failed)");
    return this.v2.services(sid);
  }

  expectFactor() {
    expect(this.factorSid !== null, "no verified factor (an earlier step failed)");
  }

  newChallenge(identity) {
    // The operation's JSON body as is: `{identity}`, or `{}` for a discoverable passkey.
    return this.service()
      .newChallenge()
      .create(identity === undefined ? {} : { identity });
  }

  approve(assertion, other = false) {
    return this.service(other).approveChallenge.update(assertion);
  }

  expectApproved(what, challenge, challengeSid) {
    expectEq(`${what} sid`, challenge.sid, challengeSid);
    expectEq(`${what} status`, challenge.status, "approved");
    expectEq(`${what} factorType`, challenge.factorType, "passkeys");
    expectEq(`${what} entitySid`, challenge.entitySid, this.entitySid);
    expectEq(`${what} identity`, challenge.identity, this.identity);
    expectEq(`${what} factorSid`, challenge.factorSid, this.factorSid);
    expectDate(`${what} dateResponded`, challenge.dateResponded);
  }

  async createServices() {
    const service = await this.v2.services.create({
      friendlyName: "compat passkeys node",
      "passkeys.relyingParty.id": RP_ID,
      "passkeys.relyingParty.name": RP_NAME,
      "passkeys.relyingParty.origins": ORIGIN,
      "passkeys.authenticatorAttachment": "platform",
      "passkeys.discoverableCredentials": "preferred",
      "passkeys.userVerification": "preferred",
    });
    expect(typeof service.sid === "string" && service.sid.startsWith("VA"), `sid: ${show(service.sid)}`);
    this.serviceSid = service.sid;
    expectSame("passkeys", service.passkeys, PASSKEYS);
    expectSame("fetched passkeys", (await this.service().fetch()).passkeys, PASSKEYS);
    // The same relying party: only the service tells the two apart.
    const other = await this.v2.services.create({
      friendlyName: "compat passkeys node other",
      "passkeys.relyingParty.id": RP_ID,
      "passkeys.relyingParty.name": RP_NAME,
      "passkeys.relyingParty.origins": ORIGIN,
    });
    expect(typeof other.sid === "string" && other.sid.startsWith("VA"), `other sid: ${show(other.sid)}`);
    this.otherSid = other.sid;
  }

  async register() {
    const factor = await this.service().newFactors.create({ friendly_name: FACTOR_NAME, identity: this.identity });
    expect(typeof factor.sid === "string" && factor.sid.startsWith("YF"), `sid: ${show(factor.sid)}`);
    expect(
      typeof factor.entitySid === "string" && factor.entitySid.startsWith("YE"),
      `entitySid: ${show(factor.entitySid)}`,
    );
    expectEq("accountSid", factor.accountSid, ACCOUNT_SID);
    expectEq("serviceSid", factor.serviceSid, this.serviceSid);
    expectEq("identity", factor.identity, this.identity);
    expectEq("friendlyName", factor.friendlyName, FACTOR_NAME);
    expectEq("status", factor.status, "unverified");
    expectEq("factorType", factor.factorType, "passkeys");
    expectEq("binding", factor.binding, null);
    expectDate("dateCreated", factor.dateCreated);
    // The passkey keys; verifyd's factor config also carries the TOTP and push keys, null.
    const config = Object.fromEntries(Object.entries(factor.config ?? {}).filter(([, v]) => v !== null));
    expectSame("config", config, PASSKEYS);
    const publicKey = factor.options?.publicKey;
    expect(publicKey && typeof publicKey === "object", `options: ${show(factor.options)}`);
    expectSame("rp", publicKey.rp, { id: RP_ID, name: RP_NAME });
    expectEq("user.id", publicKey.user?.id, b64url(Buffer.from(factor.entitySid, "ascii")));
    expectEq("user.displayName", publicKey.user?.displayName, FACTOR_NAME);
    expect(
      typeof publicKey.user?.name === "string" && publicKey.user.name !== "",
      `user.name: ${show(publicKey.user?.name)}`,
    );
    expect(
      typeof publicKey.challenge === "string" && publicKey.challenge.length >= 43,
      `challenge: ${show(publicKey.challenge)}`,
    );
    expect(
      Array.isArray(publicKey.pubKeyCredParams) &&
        publicKey.pubKeyCredParams.some((p) => isDeepStrictEqual(p, { type: "public-key", alg: -7 })),
      `pubKeyCredParams: ${show(publicKey.pubKeyCredParams)}`,
    );
    expectEq("timeout", publicKey.timeout, 300000);
    expectEq(
      "authenticatorSelection.authenticatorAttachment",
      publicKey.authenticatorSelection?.authenticatorAttachment,
      "platform",
    );
    expect(
      !publicKey.excludeCredentials || publicKey.excludeCredentials.length === 0,
      `excludeCredentials: ${show(publicKey.excludeCredentials)}`,
    );

    this.registration = this.authenticator.create(factor.options);
    const verified = await this.service().newVerifyFactors.update(this.registration);
    expectEq("verified sid", verified.sid, factor.sid);
    expectEq("verified status", verified.status, "verified");
    expectEq("verified factorType", verified.factorType, "passkeys");
    expectEq("verified identity", verified.identity, this.identity);
    this.factorSid = factor.sid;
    this.entitySid = factor.entitySid;

    const fetched = await this.service().entities(this.identity).factors(factor.sid).fetch();
    expectEq("fetched status", fetched.status, "verified");
    expectEq("fetched factorType", fetched.factorType, "passkeys");
    expectEq("fetched friendlyName", fetched.friendlyName, FACTOR_NAME);
    expectEq("fetched entitySid", fetched.entitySid, factor.entitySid);
  }

  async replayedRegistration() {
    expect(this.registration !== null, "no registration (an earlier step failed)");
    await expectRestError(
      "the same registration again",
      () => this.service().newVerifyFactors.update(this.registration),
      403,
      60311,
    );
  }

  async signIn() {
    this.expectFactor();
    const challenge = await this.newChallenge(this.identity);
    expect(typeof challenge.sid === "string" && challenge.sid.startsWith("YC"), `sid: ${show(challenge.sid)}`);
    expectEq("status", challenge.status, "pending");
    expectEq("factorType", challenge.factorType, "passkeys");
    expectEq("entitySid", challenge.entitySid, this.entitySid);
    expectEq("identity", challenge.identity, this.identity);
    expectDate("expirationDate", challenge.expirationDate);
    const publicKey = challenge.options?.publicKey;
    expect(publicKey && typeof publicKey === "object", `options: ${show(challenge.options)}`);
    expectEq("rpId", publicKey.rpId, RP_ID);
    expectEq("timeout", publicKey.timeout, 300000);
    expectSame(
      "allowCredentials",
      (publicKey.allowCredentials ?? []).map((c) => [c.type, c.id]),
      [["public-key", b64url(this.authenticator.credentialId)]],
    );
    this.assertion = this.authenticator.get(challenge.options);
    const approved = await this.approve(this.assertion);
    this.expectApproved("approved", approved, challenge.sid);
  }

  async replayedAssertion() {
    expect(this.assertion !== null, "no assertion (an earlier step failed)");
    await expectRestError("the same assertion again", () => this.approve(this.assertion), 403, 60322);
  }

  async wrongOrigin() {
    this.expectFactor();
    const challenge = await this.newChallenge(this.identity);
    const counter = this.authenticator.counter;
    const wrong = this.authenticator.get(challenge.options, WRONG_ORIGIN);
    await expectRestError("an assertion made on another origin", () => this.approve(wrong), 403, 60324);
    // A pending passkey challenge is the service's until approved (it may not name a factor
    // yet): the proof that the refusal changed nothing is that the same challenge approves.
    // The refused assertion's signature counter must not have been kept either: the right
    // one is made with the same counter.
    this.authenticator.counter = counter;
    const approved = await this.approve(this.authenticator.get(challenge.options));
    this.expectApproved("approved by the right origin", approved, challenge.sid);
  }

  async signInDiscoverable() {
    this.expectFactor();
    const challenge = await this.newChallenge();
    expectEq("status", challenge.status, "pending");
    expectEq("entitySid", challenge.entitySid, null);
    expectEq("identity", challenge.identity, null);
    expectEq("factorSid", challenge.factorSid, null);
    expectSame("allowCredentials", challenge.options?.publicKey?.allowCredentials, []);
    const approved = await this.approve(this.authenticator.get(challenge.options));
    this.expectApproved("approved", approved, challenge.sid);
    this.discoverableChallengeSid = challenge.sid;
  }

  async fetchChallenge() {
    expect(this.discoverableChallengeSid !== null, "no approved challenge (an earlier step failed)");
    const fetched = await this.service()
      .entities(this.identity)
      .challenges(this.discoverableChallengeSid)
      .fetch();
    this.expectApproved("fetched", fetched, this.discoverableChallengeSid);
    expectEq("serviceSid", fetched.serviceSid, this.serviceSid);
  }

  async otherService() {
    this.expectFactor();
    const challenge = await this.newChallenge(this.identity);
    const assertion = this.authenticator.get(challenge.options);
    await expectRestError("another service's ApproveChallenge", () => this.approve(assertion, true), 403, 60324);
  }

  async deleteServices() {
    for (const other of [false, true]) {
      expectEq("delete", await this.service(other).remove(), true);
    }
    this.serviceSid = null;
    this.otherSid = null;
  }
}

process.exitCode = await runSteps(SCRIPT, () => {
  const run = new Run();
  return {
    steps: [
      ["create_services", () => run.createServices()],
      ["register", () => run.register()],
      ["replayed_registration", () => run.replayedRegistration()],
      ["sign_in", () => run.signIn()],
      ["replayed_assertion", () => run.replayedAssertion()],
      ["wrong_origin", () => run.wrongOrigin()],
      ["sign_in_discoverable", () => run.signInDiscoverable()],
      ["fetch_challenge", () => run.fetchChallenge()],
      ["other_service", () => run.otherService()],
      ["delete_services", () => run.deleteServices()],
    ],
    // delete_services failed or never ran: try once more so a rerun against the same server
    // starts clean.
    cleanup: async () => {
      for (const sid of [run.serviceSid, run.otherSid]) {
        if (sid !== null) {
          await run.v2
            .services(sid)
            .remove()
            .catch(() => {});
        }
      }
    },
  };
});
