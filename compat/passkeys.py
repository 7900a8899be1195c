"""Compatibility: passkeys (WebAuthn credentials as factors), driven by the official
twilio-python helper library (`services.create(passkeys_...)`, `new_factors.create`,
`new_verify_factors.update`, `new_challenge().create`, `approve_challenge.update`, and the
factor and challenge read back through `entities(identity)`), with a software authenticator
written here standing in for the browser and its passkey.

Run by `cargo xtask test` against a running `verifyd serve`. Environment:

    VERIFYD_URL          the server's base URL, e.g. http://127.0.0.1:8080
    VERIFYD_ACCOUNT_SID  an account SID (AC…)
    VERIFYD_AUTH_TOKEN   its auth token

Prints one line per step (`ok  name` or `FAIL name: reason`), then
`compat passkeys: N passed, M failed`, and exits 1 when a step failed.

The authenticator (class `Authenticator`) does what a browser and a platform authenticator do
for WebAuthn Level 2 with attestation "none": an ES256 (P-256) key pair made by the
`cryptography` package, the client data JSON, the authenticator data (RP ID hash, flags UP,
UV and, at creation, AT; the signature counter; at creation the attested credential data with
the COSE public key), the attestation object in CBOR (a small encoder below: only what these
structures use), and the assertion's DER ECDSA signature over the authenticator data and the
client data's hash. Everything it sends is base64url without padding, as browsers' JSON
serialisation of a `PublicKeyCredential` is.

Steps: a service with passkey settings; a registration (factor created, credential made,
factor verified, fetched); the same registration answer again (refused); a sign-in with the
identity (challenge, assertion, approved); the same assertion again (refused); an assertion
from a wrong origin (refused, the challenge still pending and approved after by the right
one); a sign-in without identity (a discoverable passkey names the user); the approved
challenge read back; another service refusing this service's assertion.
See compat/support for how the library is pointed at verifyd.
"""

import base64
import hashlib
import json
import secrets
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from support import ACCOUNT_SID, delete_quietly, expect, expect_datetime, expect_eq, expect_rest_error, make_client, run_steps, settings_missing, summary
from twilio.rest.verify.v2.service.approve_challenge import ApproveChallengeList
from twilio.rest.verify.v2.service.new_challenge import NewChallengeList
from twilio.rest.verify.v2.service.new_factor import NewFactorList
from twilio.rest.verify.v2.service.new_verify_factor import NewVerifyFactorList

SCRIPT = "passkeys"
RP_ID = "example.com"
RP_NAME = "Example"
ORIGIN = "https://example.com"
WRONG_ORIGIN = "https://evil.example.net"
FACTOR_NAME = "Jane's laptop"

# WebAuthn authenticator data flags.
USER_PRESENT = 0x01
USER_VERIFIED = 0x04
ATTESTED_DATA = 0x40


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def cbor(value):
    """CBOR (RFC 8949) of the few kinds the attestation object uses: integers, byte and text
    strings, and maps (written in the order given: the caller gives the canonical order)."""

    def head(major, n):
        if n < 24:
            return bytes([major << 5 | n])
        for extra, size, fmt in ((24, 1, ">B"), (25, 2, ">H"), (26, 4, ">I"), (27, 8, ">Q")):
            if n < 1 << (8 * size):
                return bytes([major << 5 | extra]) + struct.pack(fmt, n)
        raise ValueError(f"too large for CBOR: {n}")

    if isinstance(value, bool):
        raise TypeError("no booleans here")
    if isinstance(value, int):
        return head(0, value) if value >= 0 else head(1, -1 - value)
    if isinstance(value, bytes):
        return head(2, len(value)) + value
    if isinstance(value, str):
        data = value.encode("utf-8")
        return head(3, len(data)) + data
    if isinstance(value, dict):
        return head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    raise TypeError(f"no CBOR for {type(value).__name__}")


class Authenticator:
    """One passkey: a P-256 key pair, its credential ID and signature counter, and the user
    handle it was made for, as a browser and a platform authenticator keep and use them."""

    def __init__(self, rp_id=RP_ID, origin=ORIGIN):
        self.rp_id = rp_id
        self.origin = origin
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(32)
        self.counter = 0
        self.user_handle = None

    def client_data(self, kind, challenge, origin=None):
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False},
            separators=(",", ":"),
        ).encode("utf-8")

    def authenticator_data(self, attested):
        self.counter += 1
        flags = USER_PRESENT | USER_VERIFIED | (ATTESTED_DATA if attested else 0)
        data = hashlib.sha256(self.rp_id.encode("utf-8")).digest() + bytes([flags]) + struct.pack(">I", self.counter)
        if attested:
            numbers = self.key.public_key().public_numbers()
            cose_key = {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
            aaguid = bytes(16)
            data += aaguid + struct.pack(">H", len(self.credential_id)) + self.credential_id + cbor(cose_key)
        return data

    def create(self, options):
        """`navigator.credentials.create()`: the registration answer (JSON) to `options`
        (`{"publicKey": {...}}` as the server gave them)."""
        public_key = options["publicKey"]
        expect_eq("options rp.id", public_key["rp"]["id"], self.rp_id)
        self.user_handle = public_key["user"]["id"]
        client_data = self.client_data("webauthn.create", public_key["challenge"])
        attestation = cbor({"fmt": "none", "attStmt": {}, "authData": self.authenticator_data(attested=True)})
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "authenticatorAttachment": "platform",
            "type": "public-key",
            "response": {
                "attestationObject": b64url(attestation),
                "clientDataJSON": b64url(client_data),
                "transports": ["internal"],
            },
        }

    def get(self, options, origin=None):
        """`navigator.credentials.get()`: the assertion (JSON) answering `options`, as made
        from `origin` (the relying party's own by default)."""
        public_key = options["publicKey"]
        expect_eq("options rpId", public_key["rpId"], self.rp_id)
        allowed = [c["id"] for c in public_key.get("allowCredentials") or []]
        expect(not allowed or b64url(self.credential_id) in allowed, f"allowCredentials {allowed!r} lack this passkey")
        client_data = self.client_data("webauthn.get", public_key["challenge"], origin)
        auth_data = self.authenticator_data(attested=False)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "authenticatorAttachment": "platform",
            "type": "public-key",
            "response": {
                "authenticatorData": b64url(auth_data),
                "clientDataJSON": b64url(client_data),
                "signature": b64url(signature),
                "userHandle": self.user_handle,
            },
        }


class Run:
    def __init__(self):
        self.client = make_client()
        self.v2 = self.client.verify.v2
        self.service_sid = None
        self.other_sid = None
        self.identity = f"user-{secrets.token_hex(8)}"
        self.authenticator = Authenticator()
        self.factor_sid = None
        self.entity_sid = None
        self.registration = None
        self.assertion = None
        self.discoverable_challenge_sid = None

    def service(self, other=False):
        sid = self.other_sid if other else self.service_sid
        expect(sid is not None, "no service (an earlier step failed)")
        return self.v2.services(sid)

    def expect_factor(self):
        expect(self.factor_sid is not None, "no verified factor (an earlier step failed)")

    def new_challenge(self, identity=None):
        request = NewChallengeList.CreatePasskeysChallengeRequest({"identity": identity})
        return self.service().new_challenge().create(create_passkeys_challenge_request=request)

    def approve(self, assertion, other=False):
        request = ApproveChallengeList.ApprovePasskeysChallengeRequest(assertion)
        return self.service(other).approve_challenge.update(approve_passkeys_challenge_request=request)

    def expect_approved(self, what, challenge, challenge_sid):
        expect_eq(f"{what} sid", challenge.sid, challenge_sid)
        expect_eq(f"{what} status", challenge.status, "approved")
        expect_eq(f"{what} factor_type", challenge.factor_type, "passkeys")
        expect_eq(f"{what} entity_sid", challenge.entity_sid, self.entity_sid)
        expect_eq(f"{what} identity", challenge.identity, self.identity)
        expect_eq(f"{what} factor_sid", challenge.factor_sid, self.factor_sid)
        expect_datetime(f"{what} date_responded", challenge.date_responded)

    def create_services(self):
        service = self.v2.services.create(
            friendly_name="compat passkeys",
            passkeys_relying_party_id=RP_ID,
            passkeys_relying_party_name=RP_NAME,
            passkeys_relying_party_origins=ORIGIN,
            passkeys_authenticator_attachment="platform",
            passkeys_discoverable_credentials="preferred",
            passkeys_user_verification="preferred",
        )
        self.service_sid = service.sid
        want = {
            "relying_party": {"id": RP_ID, "name": RP_NAME, "origins": [ORIGIN]},
            "authenticator_attachment": "platform",
            "discoverable_credentials": "preferred",
            "user_verification": "preferred",
        }
        expect_eq("passkeys", service.passkeys, want)
        expect_eq("fetched passkeys", self.service().fetch().passkeys, want)
        # The same relying party: only the service tells the two apart.
        self.other_sid = self.v2.services.create(
            friendly_name="compat passkeys other",
            passkeys_relying_party_id=RP_ID,
            passkeys_relying_party_name=RP_NAME,
            passkeys_relying_party_origins=ORIGIN,
        ).sid

    def register(self):
        request = NewFactorList.CreateNewPasskeysFactorRequest({"friendly_name": FACTOR_NAME, "identity": self.identity})
        factor = self.service().new_factors.create(create_new_passkeys_factor_request=request)
        expect(factor.sid and factor.sid.startswith("YF"), f"sid: {factor.sid!r}")
        expect(factor.entity_sid and factor.entity_sid.startswith("YE"), f"entity_sid: {factor.entity_sid!r}")
        expect_eq("account_sid", factor.account_sid, ACCOUNT_SID)
        expect_eq("service_sid", factor.service_sid, self.service_sid)
        expect_eq("identity", factor.identity, self.identity)
        expect_eq("friendly_name", factor.friendly_name, FACTOR_NAME)
        expect_eq("status", factor.status, "unverified")
        expect_eq("factor_type", factor.factor_type, "passkeys")
        expect_eq("binding", factor.binding, None)
        expect_datetime("date_created", factor.date_created)
        # The passkey keys; verifyd's factor config also carries the TOTP and push keys, null.
        want = {
            "relying_party": {"id": RP_ID, "name": RP_NAME, "origins": [ORIGIN]},
            "authenticator_attachment": "platform",
            "discoverable_credentials": "preferred",
            "user_verification": "preferred",
        }
        expect_eq("config", {k: v for k, v in factor.config.items() if v is not None}, want)
        public_key = factor.options["publicKey"]
        expect_eq("rp", public_key["rp"], {"id": RP_ID, "name": RP_NAME})
        expect_eq("user.id", public_key["user"]["id"], b64url(factor.entity_sid.encode("ascii")))
        expect_eq("user.displayName", public_key["user"]["displayName"], FACTOR_NAME)
        expect(isinstance(public_key["user"]["name"], str) and public_key["user"]["name"], f"user.name: {public_key['user']['name']!r}")
        expect(isinstance(public_key["challenge"], str) and len(public_key["challenge"]) >= 43, f"challenge: {public_key['challenge']!r}")
        expect({"type": "public-key", "alg": -7} in public_key["pubKeyCredParams"], f"pubKeyCredParams: {public_key['pubKeyCredParams']!r}")
        expect_eq("timeout", public_key["timeout"], 300000)
        expect_eq("authenticatorAttachment", public_key["authenticatorSelection"].get("authenticatorAttachment"), "platform")
        expect(not public_key.get("excludeCredentials"), f"excludeCredentials: {public_key.get('excludeCredentials')!r}")

        self.registration = self.authenticator.create(factor.options)
        request = NewVerifyFactorList.VerifyPasskeysFactorRequest(self.registration)
        verified = self.service().new_verify_factors.update(verify_passkeys_factor_request=request)
        expect_eq("verified sid", verified.sid, factor.sid)
        expect_eq("verified status", verified.status, "verified")
        expect_eq("verified factor_type", verified.factor_type, "passkeys")
        expect_eq("verified identity", verified.identity, self.identity)
        self.factor_sid = factor.sid
        self.entity_sid = factor.entity_sid

        fetched = self.service().entities(self.identity).factors(factor.sid).fetch()
        expect_eq("fetched status", fetched.status, "verified")
        expect_eq("fetched factor_type", fetched.factor_type, "passkeys")
        expect_eq("fetched friendly_name", fetched.friendly_name, FACTOR_NAME)
        expect_eq("fetched entity_sid", fetched.entity_sid, factor.entity_sid)

    def replayed_registration(self):
        expect(self.registration is not None, "no registration (an earlier step failed)")
        request = NewVerifyFactorList.VerifyPasskeysFactorRequest(self.registration)
        expect_rest_error(
            "the same registration again",
            lambda: self.service().new_verify_factors.update(verify_passkeys_factor_request=request),
            403,
            60311,
        )

    def sign_in(self):
        self.expect_factor()
        challenge = self.new_challenge(self.identity)
        expect(challenge.sid and challenge.sid.startswith("YC"), f"sid: {challenge.sid!r}")
        expect_eq("status", challenge.status, "pending")
        expect_eq("factor_type", challenge.factor_type, "passkeys")
        expect_eq("entity_sid", challenge.entity_sid, self.entity_sid)
        expect_eq("identity", challenge.identity, self.identity)
        expect_datetime("expiration_date", challenge.expiration_date)
        public_key = challenge.options["publicKey"]
        expect_eq("rpId", public_key["rpId"], RP_ID)
        expect_eq("timeout", public_key["timeout"], 300000)
        expect_eq(
            "allowCredentials",
            [(c["type"], c["id"]) for c in public_key["allowCredentials"]],
            [("public-key", b64url(self.authenticator.credential_id))],
        )
        self.assertion = self.authenticator.get(challenge.options)
        approved = self.approve(self.assertion)
        self.expect_approved("approved", approved, challenge.sid)

    def replayed_assertion(self):
        expect(self.assertion is not None, "no assertion (an earlier step failed)")
        expect_rest_error("the same assertion again", lambda: self.approve(self.assertion), 403, 60322)

    def wrong_origin(self):
        self.expect_factor()
        challenge = self.new_challenge(self.identity)
        counter = self.authenticator.counter
        wrong = self.authenticator.get(challenge.options, origin=WRONG_ORIGIN)
        expect_rest_error("an assertion made on another origin", lambda: self.approve(wrong), 403, 60324)
        # A pending passkey challenge is the service's until approved (it may not name a factor
        # yet): the proof that the refusal changed nothing is that the same challenge approves.
        # The refused assertion's signature counter must not have been kept either: the right
        # one is made with the same counter.
        self.authenticator.counter = counter
        approved = self.approve(self.authenticator.get(challenge.options))
        self.expect_approved("approved by the right origin", approved, challenge.sid)

    def sign_in_discoverable(self):
        self.expect_factor()
        challenge = self.new_challenge()
        expect_eq("status", challenge.status, "pending")
        expect_eq("entity_sid", challenge.entity_sid, None)
        expect_eq("identity", challenge.identity, None)
        expect_eq("factor_sid", challenge.factor_sid, None)
        expect_eq("allowCredentials", challenge.options["publicKey"].get("allowCredentials"), [])
        approved = self.approve(self.authenticator.get(challenge.options))
        self.expect_approved("approved", approved, challenge.sid)
        self.discoverable_challenge_sid = challenge.sid

    def fetch_challenge(self):
        expect(self.discoverable_challenge_sid is not None, "no approved challenge (an earlier step failed)")
        fetched = self.service().entities(self.identity).challenges(self.discoverable_challenge_sid).fetch()
        self.expect_approved("fetched", fetched, self.discoverable_challenge_sid)
        expect_eq("service_sid", fetched.service_sid, self.service_sid)

    def other_service(self):
        self.expect_factor()
        challenge = self.new_challenge(self.identity)
        assertion = self.authenticator.get(challenge.options)
        expect_rest_error(
            "another service's ApproveChallenge",
            lambda: self.approve(assertion, other=True),
            403,
            60324,
        )

    def delete_services(self):
        for other in (False, True):
            expect_eq("delete", self.service(other).delete(), True)
        self.service_sid = self.other_sid = None


def main():
    if settings_missing(SCRIPT):
        return 1
    run = Run()
    steps = [
        run.create_services,
        run.register,
        run.replayed_registration,
        run.sign_in,
        run.replayed_assertion,
        run.wrong_origin,
        run.sign_in_discoverable,
        run.fetch_challenge,
        run.other_service,
        run.delete_services,
    ]
    passed, failed = run_steps([(step.__name__, step) for step in steps])
    delete_quietly(run.client, run.service_sid)
    delete_quietly(run.client, run.other_sid)
    return summary(SCRIPT, passed, failed)


if __name__ == "__main__":
    sys.exit(main())
