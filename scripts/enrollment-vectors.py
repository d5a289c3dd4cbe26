#!/usr/bin/env python3
"""Computes the enrollment channel's test vectors of docs/PROTOCOL.md section 7.2 from the document's definitions
(section 4), with Python's `cryptography` package and nothing of CampusPKI's code.

    python3 scripts/enrollment-vectors.py            prints the vectors, one `name = hex` line each
    python3 scripts/enrollment-vectors.py --check    checks the document's vectors (all but the ECDSA signature, which
                                                     is randomized, are recomputed; the signature is verified)

The ECDSA signature is randomized: without --check a new one is made, and every value after it changes.
"""
import hashlib
import hmac
import re
import struct
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand


def field(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def frames_digest(*payloads: bytes) -> bytes:
    digest = hashlib.sha256()
    for payload in payloads:
        digest.update(struct.pack(">I", len(payload)) + payload)
    return digest.digest()


def seal(key: bytes, direction: int, kind: int, sequence: int, plaintext: bytes) -> bytes:
    nonce = bytes([direction, 0, 0, 0]) + struct.pack(">Q", sequence)
    aad = bytes([2, kind]) + struct.pack(">Q", sequence)
    return ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)


def raw_public(private: X25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def compute(signature: bytes | None) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    student_private = bytes(range(0x20, 0x40))
    cuhk_private = bytes(range(0xE0, 0x100))
    nonce = bytes(range(0xC0, 0xE0))
    student = X25519PrivateKey.from_private_bytes(student_private)
    cuhk = X25519PrivateKey.from_private_bytes(cuhk_private)
    student_share, cuhk_share = raw_public(student), raw_public(cuhk)
    shared = student.exchange(X25519PrivateKey.from_private_bytes(cuhk_private).public_key())
    assert shared == cuhk.exchange(student.public_key())
    out += [
        ("enrollment_student_x25519_private", student_private),
        ("enrollment_cuhk_x25519_private", cuhk_private),
        ("enrollment_student_share", student_share),
        ("enrollment_cuhk_share", cuhk_share),
        ("enrollment_shared_secret", shared),
        ("enrollment_nonce", nonce),
    ]
    hello = bytes([2, 0x07]) + student_share + nonce
    cuhk_pem = b"-----BEGIN CERTIFICATE-----\nQ1VISw==\n-----END CERTIFICATE-----\n"
    root_pem = b"-----BEGIN CERTIFICATE-----\nUk9PVA==\n-----END CERTIFICATE-----\n"
    offer = bytes([2, 0x08]) + field(cuhk_pem) + field(root_pem) + cuhk_share
    digest_ho = frames_digest(hello, offer)
    signed = b"CampusPKI v2 enrollment signature" + b"\x00" + digest_ho
    scalar = bytes(range(0x41, 0x61))
    signing = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
    public = signing.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    if signature is None:
        signature = signing.sign(signed, ec.ECDSA(hashes.SHA256()))
    signing.public_key().verify(signature, signed, ec.ECDSA(hashes.SHA256()))
    signature_payload = bytes([2, 0x09]) + field(signature)
    digest_hov = frames_digest(hello, offer, signature_payload)
    prk = hmac.new(digest_hov, shared, hashlib.sha256).digest()

    def expand(label: bytes) -> bytes:
        return HKDFExpand(algorithm=hashes.SHA256(), length=32, info=label).derive(prk)

    student_key = expand(b"CampusPKI v2 enrollment student key")
    authority_key = expand(b"CampusPKI v2 enrollment authority key")
    out += [
        ("enrollment_hello_payload", hello),
        ("enrollment_offer_payload", offer),
        ("enrollment_transcript_digest_ho", digest_ho),
        ("enrollment_signed_bytes", signed),
        ("enrollment_cuhk_signing_private", scalar),
        ("enrollment_cuhk_signing_public", public),
        ("enrollment_cuhk_signature", signature),
        ("enrollment_signature_payload", signature_payload),
        ("enrollment_transcript_digest_hov", digest_hov),
        ("enrollment_pseudorandom_key", prk),
        ("enrollment_student_key", student_key),
        ("enrollment_authority_key", authority_key),
    ]
    csr_der = bytes.fromhex("3003020100")
    csr_pem = b"-----BEGIN CERTIFICATE REQUEST-----\nMAMCAQA=\n-----END CERTIFICATE REQUEST-----\n"
    code_hash = hashlib.sha256(b"7K3QM9XA2C4RTV8HN5PW").digest()
    proof = hmac.new(
        code_hash, b"CampusPKI v2 enrollment code" + digest_hov + hashlib.sha256(csr_der).digest(), hashlib.sha256
    ).digest()
    request_plaintext = field(csr_pem) + field(proof)
    request_sealed = seal(student_key, 0x01, 0x0A, 1, request_plaintext)
    request_payload = bytes([2, 0x0A]) + struct.pack(">Q", 1) + field(request_sealed)
    renewal_signed = b"CampusPKI v2 renewal" + digest_hov + hashlib.sha256(csr_der).digest()
    student_pem = b"-----BEGIN CERTIFICATE-----\nVEVTVA==\n-----END CERTIFICATE-----\n"
    renewal_plaintext = field(student_pem) + field(csr_pem) + field(b"\x5a" * 256)
    renewal_sealed = seal(student_key, 0x01, 0x0B, 1, renewal_plaintext)
    renewal_payload = bytes([2, 0x0B]) + struct.pack(">Q", 1) + field(renewal_sealed)
    certificate_sealed = seal(authority_key, 0x02, 0x0C, 1, student_pem)
    certificate_payload = bytes([2, 0x0C]) + struct.pack(">Q", 1) + field(certificate_sealed)
    out += [
        ("enrollment_csr_der", csr_der),
        ("enrollment_code_proof", proof),
        ("enrollment_request_plaintext", request_plaintext),
        ("enrollment_request_sealed", request_sealed),
        ("enrollment_request_payload", request_payload),
        ("renewal_signed_message", renewal_signed),
        ("renewal_request_plaintext", renewal_plaintext),
        ("renewal_request_payload", renewal_payload),
        ("enrollment_certificate_sealed", certificate_sealed),
        ("enrollment_certificate_payload", certificate_payload),
    ]
    return out


def document_vectors() -> dict[str, bytes]:
    text = (Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md").read_text()
    block = text.split("```vectors\n", 1)[1].split("```", 1)[0]
    return {name.strip(): bytes.fromhex(value.strip()) for name, value in re.findall(r"^(\w+) = ([0-9a-f]*)$", block, re.M)}


def main() -> int:
    if "--check" in sys.argv:
        published = document_vectors()
        computed = compute(published["enrollment_cuhk_signature"])
        wrong = [name for name, value in computed if published.get(name) != value]
        for name in wrong:
            print(f"differs: {name}", file=sys.stderr)
        print(f"{len(computed) - len(wrong)} of {len(computed)} enrollment vectors agree")
        return 1 if wrong else 0
    for name, value in compute(None):
        print(f"{name} = {value.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
