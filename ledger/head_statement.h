#pragma once
// Signed head statements: an auditor's Ed25519-signed record of where each partition's hash
// chain stood (position and head hash) at a moment. Kept outside the database, a statement
// lets `tally audit verify --statement` prove later that the log still holds exactly those
// events, even against someone able to rewrite both the rows and the chain (see docs/AUDIT.md).
//
// A statement is ASCII text, lines ending in "\n" (LF only), in exactly this order:
//
//   tally signed heads v1
//   key <64 hex: SHA-256 of the signer's raw 32-byte Ed25519 public key>
//   time <UTC signing time, YYYY-MM-DDTHH:MM:SS.ffffffZ>
//   partition <P> position <N> head <64 hex: hash of event N of partition P; 64 zeros when N = 0>
//   ... one partition line per partition, P strictly ascending, at least one ...
//   signature <128 hex: Ed25519 signature>
//
// Integers are decimal without sign or leading zeros; hex is lowercase. The signed bytes (the
// canonical bytes) are every line before the signature line, each with its "\n": exactly what
// CanonicalBytes returns. Parsing is strict (anything else is rejected), so a statement has
// one textual form and the signature covers all of it but its own line. Ed25519 is pure
// (RFC 8032; OpenSSL EVP_DigestSign with no digest): the canonical bytes are signed as they are.
//
// Pure functions over OpenSSL 3; thread-safe. Errors: InvalidArgument for malformed input or a
// key that is not Ed25519, Unauthenticated for a signature that does not verify, Internal for
// OpenSSL failures.

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tally::ledger {

struct SignedHead {
  int partition = 0;
  int64_t position = 0;  // events in the partition when signed; 0: empty
  std::string head_hex;  // 64 lowercase hex
};

struct HeadStatement {
  std::string key_hex;  // SHA-256 of the signer's raw public key (64 hex)
  std::string time;     // YYYY-MM-DDTHH:MM:SS.ffffffZ
  std::vector<SignedHead> heads;
  std::string signature_hex;  // 128 hex; empty before signing
};

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

// The signing time as a statement writes it.
std::string StatementTime(absl::Time time);

// The bytes the signature covers (see above).
std::string CanonicalBytes(const HeadStatement& statement);

// The whole statement text (canonical bytes, then the signature line).
std::string FormatStatement(const HeadStatement& statement);

// Strict parse of FormatStatement's output; InvalidArgument naming the line otherwise.
absl::StatusOr<HeadStatement> ParseStatement(absl::string_view text);

// SHA-256 of `key`'s raw Ed25519 public key, hex (works for private and public keys).
absl::StatusOr<std::string> KeyFingerprint(const EVP_PKEY* key);

// Fills key_hex and signature_hex from `private_key`.
absl::StatusOr<HeadStatement> SignStatement(HeadStatement statement, const EVP_PKEY* private_key);

// OkStatus when the signature over CanonicalBytes verifies with `public_key`; Unauthenticated
// when it does not (whatever the key_hex line says).
absl::Status VerifyStatementSignature(const HeadStatement& statement, const EVP_PKEY* public_key);

// A fresh Ed25519 key pair.
absl::StatusOr<Pkey> GenerateSigningKey();

std::string PrivateKeyPem(const EVP_PKEY* key);
std::string PublicKeyPem(const EVP_PKEY* key);

// PEM text to a key; InvalidArgument when it is not one or the key is not Ed25519.
absl::StatusOr<Pkey> PrivateKeyFromPem(absl::string_view pem);
absl::StatusOr<Pkey> PublicKeyFromPem(absl::string_view pem);

}  // namespace tally::ledger
