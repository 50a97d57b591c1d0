// Signed head statements without a database: the exact bytes signed, the strict text form, and
// the Ed25519 signature that any change to a statement, or another key, fails.

#include "ledger/head_statement.h"

#include <doctest/doctest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/civil_time.h"

namespace tally::ledger {
namespace {

const std::string kHeadA(64, 'a');
const std::string kHeadZero(64, '0');

HeadStatement Unsigned() {
  HeadStatement statement;
  statement.time =
      StatementTime(absl::FromCivil(absl::CivilSecond(2026, 12, 2, 8, 30, 5), absl::UTCTimeZone()) +
                    absl::Microseconds(42));
  statement.heads = {{0, 12, kHeadA}, {3, 0, kHeadZero}};
  return statement;
}

HeadStatement Signed(const EVP_PKEY* key) {
  auto statement = SignStatement(Unsigned(), key);
  REQUIRE(statement.ok());
  return *statement;
}

Pkey NewKey() {
  auto key = GenerateSigningKey();
  REQUIRE(key.ok());
  return std::move(*key);
}

Pkey PublicOf(const EVP_PKEY* key) {
  auto public_key = PublicKeyFromPem(PublicKeyPem(key));
  REQUIRE(public_key.ok());
  return std::move(*public_key);
}

TEST_CASE("the signed bytes are the statement's lines before the signature, exactly") {
  HeadStatement statement = Unsigned();
  statement.key_hex = std::string(64, 'b');
  CHECK(CanonicalBytes(statement) == absl::StrCat("tally signed heads v1\n"
                                                  "key ",
                                                  std::string(64, 'b'),
                                                  "\n"
                                                  "time 2026-12-02T08:30:05.000042Z\n"
                                                  "partition 0 position 12 head ",
                                                  kHeadA,
                                                  "\n"
                                                  "partition 3 position 0 head ",
                                                  kHeadZero, "\n"));
  statement.signature_hex = std::string(128, 'c');
  CHECK(FormatStatement(statement) ==
        absl::StrCat(CanonicalBytes(statement), "signature ", std::string(128, 'c'), "\n"));
}

TEST_CASE("a signed statement parses back to itself and verifies with the signer's public key") {
  Pkey key = NewKey();
  const HeadStatement statement = Signed(key.get());
  auto fingerprint = KeyFingerprint(key.get());
  REQUIRE(fingerprint.ok());
  CHECK(statement.key_hex == *fingerprint);
  CHECK(statement.signature_hex.size() == 128);

  auto parsed = ParseStatement(FormatStatement(statement));
  REQUIRE(parsed.ok());
  CHECK(FormatStatement(*parsed) == FormatStatement(statement));
  REQUIRE(parsed->heads.size() == 2);
  CHECK(parsed->heads[1].partition == 3);
  CHECK(parsed->heads[0].position == 12);
  Pkey public_key = PublicOf(key.get());
  CHECK(VerifyStatementSignature(*parsed, public_key.get()).ok());
  CHECK(KeyFingerprint(public_key.get()).value() == *fingerprint);
}

TEST_CASE("any change to a signed statement fails its signature") {
  Pkey key = NewKey();
  Pkey public_key = PublicOf(key.get());
  const std::string text = FormatStatement(Signed(key.get()));
  const std::vector<std::pair<std::string, std::string>> edits = {
      {"position 12 ", "position 13 "},
      {"position 12 ", "position 1 "},
      {"partition 3 ", "partition 4 "},
      {std::string("head ") + kHeadA, std::string("head ") + std::string(63, 'a') + "b"},
      {"08:30:05", "08:30:06"},
      {absl::StrCat("partition 3 position 0 head ", kHeadZero, "\n"), ""},
  };
  for (const auto& [from, to] : edits) {
    INFO(from, " -> ", to);
    const std::string altered = absl::StrReplaceAll(text, {{from, to}});
    REQUIRE(altered != text);
    auto parsed = ParseStatement(altered);
    REQUIRE(parsed.ok());
    CHECK(VerifyStatementSignature(*parsed, public_key.get()).code() ==
          absl::StatusCode::kUnauthenticated);
  }
  HeadStatement flipped = *ParseStatement(text);
  flipped.signature_hex[10] = flipped.signature_hex[10] == '0' ? '1' : '0';
  CHECK(VerifyStatementSignature(flipped, public_key.get()).code() ==
        absl::StatusCode::kUnauthenticated);
}

TEST_CASE("another key's public key does not verify a statement") {
  Pkey key = NewKey();
  Pkey other = NewKey();
  const HeadStatement statement = Signed(key.get());
  CHECK(VerifyStatementSignature(statement, PublicOf(other.get()).get()).code() ==
        absl::StatusCode::kUnauthenticated);
  CHECK(KeyFingerprint(other.get()).value() != statement.key_hex);
}

TEST_CASE("keys that are not Ed25519, or not the kind asked for, are refused") {
  Pkey ec(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  REQUIRE(ec != nullptr);
  auto ec_private = PrivateKeyFromPem(PrivateKeyPem(ec.get()));
  CHECK(ec_private.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(ec_private.status().message()).find("not an Ed25519 key") != std::string::npos);
  CHECK(PublicKeyFromPem(PublicKeyPem(ec.get())).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(SignStatement(Unsigned(), ec.get()).status().code() == absl::StatusCode::kInvalidArgument);

  Pkey key = NewKey();
  // A private key where the public one is expected, and the other way round.
  CHECK(PublicKeyFromPem(PrivateKeyPem(key.get())).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(PrivateKeyFromPem(PublicKeyPem(key.get())).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(PrivateKeyFromPem("not a key").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(PrivateKeyFromPem(PrivateKeyPem(key.get())).ok());
}

TEST_CASE("statements not in the one canonical text form are refused, naming the line") {
  Pkey key = NewKey();
  const std::string text = FormatStatement(Signed(key.get()));
  REQUIRE(ParseStatement(text).ok());
  const std::vector<std::pair<std::string, std::string>> edits = {
      {"position 12 ", "position 012 "},
      {"position 12 ", "position +12 "},
      {"position 12 ", "position  12 "},
      {std::string("head ") + kHeadA, std::string("head ") + std::string(64, 'A')},
      {"partition 3 ", "partition 0 "},
      {"\n", "\r\n"},
      {"tally signed heads v1", "tally signed heads v2"},
      {"T08:30:05.000042Z", "T08:30:05Z"},
      {"08:30:05", "08:30:65"},
      {"\nsignature ", "\nsignature  "},
  };
  for (const auto& [from, to] : edits) {
    INFO(from, " -> ", to);
    auto parsed = ParseStatement(absl::StrReplaceAll(text, {{from, to}}));
    CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(parsed.status().message()).find("malformed statement") != std::string::npos);
  }
  CHECK_FALSE(ParseStatement(text.substr(0, text.size() - 1)).ok());
  CHECK_FALSE(ParseStatement(text + "\n").ok());
  CHECK_FALSE(ParseStatement("").ok());
}

}  // namespace
}  // namespace tally::ledger
