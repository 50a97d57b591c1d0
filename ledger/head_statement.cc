#include "ledger/head_statement.h"

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ledger/hash_chain.h"

namespace tally::ledger {
namespace {

constexpr absl::string_view kHeader = "tally signed heads v1";
constexpr absl::string_view kTimeFormat = "%Y-%m-%dT%H:%M:%E6SZ";
constexpr size_t kEd25519SignatureBytes = 64;

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using Bio = std::unique_ptr<BIO, BioDeleter>;

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

bool IsLowerHex(absl::string_view text, size_t length) {
  if (text.size() != length) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string HexDecode(absl::string_view hex) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  }
  return out;
}

// A decimal integer without sign or leading zeros, as the canonical form writes it.
template <typename Int>
bool ParseCanonicalInt(absl::string_view text, Int& value) {
  if (text.empty() || (text.size() > 1 && text[0] == '0')) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return absl::SimpleAtoi(text, &value);
}

absl::Status Malformed(size_t line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed statement: line ", line, ": ", what));
}

bool IsEd25519(const EVP_PKEY* key) {
  return key != nullptr && EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519;
}

}  // namespace

std::string StatementTime(absl::Time time) {
  return absl::FormatTime(kTimeFormat, time, absl::UTCTimeZone());
}

std::string CanonicalBytes(const HeadStatement& statement) {
  std::string out =
      absl::StrCat(kHeader, "\nkey ", statement.key_hex, "\ntime ", statement.time, "\n");
  for (const SignedHead& head : statement.heads) {
    absl::StrAppend(&out, "partition ", head.partition, " position ", head.position, " head ",
                    head.head_hex, "\n");
  }
  return out;
}

std::string FormatStatement(const HeadStatement& statement) {
  return absl::StrCat(CanonicalBytes(statement), "signature ", statement.signature_hex, "\n");
}

absl::StatusOr<HeadStatement> ParseStatement(absl::string_view text) {
  if (text.empty() || text.back() != '\n') {
    return absl::InvalidArgumentError("malformed statement: it must end with a newline");
  }
  text.remove_suffix(1);
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (lines.size() < 5) return Malformed(lines.size(), "too few lines");
  HeadStatement statement;
  if (lines[0] != kHeader) return Malformed(1, absl::StrCat("expected \"", kHeader, "\""));
  if (!absl::ConsumePrefix(&lines[1], "key ") || !IsLowerHex(lines[1], 2 * kHashBytes)) {
    return Malformed(2, "expected \"key <64 lowercase hex>\"");
  }
  statement.key_hex = std::string(lines[1]);
  absl::Time parsed_time;
  std::string error;
  if (!absl::ConsumePrefix(&lines[2], "time ") ||
      !absl::ParseTime(kTimeFormat, lines[2], absl::UTCTimeZone(), &parsed_time, &error) ||
      StatementTime(parsed_time) != lines[2]) {
    return Malformed(3, "expected \"time YYYY-MM-DDTHH:MM:SS.ffffffZ\"");
  }
  statement.time = std::string(lines[2]);
  for (size_t i = 3; i + 1 < lines.size(); ++i) {
    std::vector<absl::string_view> fields = absl::StrSplit(lines[i], ' ');
    SignedHead head;
    if (fields.size() != 6 || fields[0] != "partition" || fields[2] != "position" ||
        fields[4] != "head" || !ParseCanonicalInt(fields[1], head.partition) ||
        !ParseCanonicalInt(fields[3], head.position) || !IsLowerHex(fields[5], 2 * kHashBytes)) {
      return Malformed(i + 1, "expected \"partition <P> position <N> head <64 lowercase hex>\"");
    }
    if (!statement.heads.empty() && head.partition <= statement.heads.back().partition) {
      return Malformed(i + 1, "partitions must be strictly ascending");
    }
    head.head_hex = std::string(fields[5]);
    statement.heads.push_back(std::move(head));
  }
  absl::string_view last = lines.back();
  if (!absl::ConsumePrefix(&last, "signature ") || !IsLowerHex(last, 2 * kEd25519SignatureBytes)) {
    return Malformed(lines.size(), "expected \"signature <128 lowercase hex>\"");
  }
  statement.signature_hex = std::string(last);
  return statement;
}

absl::StatusOr<std::string> KeyFingerprint(const EVP_PKEY* key) {
  if (!IsEd25519(key)) return absl::InvalidArgumentError("the key is not an Ed25519 key");
  unsigned char raw[32];
  size_t length = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(key, raw, &length) != 1 || length != sizeof raw) {
    return absl::InternalError("could not read the Ed25519 public key");
  }
  return HexEncode(Sha256(absl::string_view(reinterpret_cast<const char*>(raw), length)));
}

absl::StatusOr<HeadStatement> SignStatement(HeadStatement statement, const EVP_PKEY* private_key) {
  auto fingerprint = KeyFingerprint(private_key);
  if (!fingerprint.ok()) return fingerprint.status();
  statement.key_hex = *fingerprint;
  const std::string message = CanonicalBytes(statement);
  MdCtx ctx(EVP_MD_CTX_new());
  unsigned char signature[kEd25519SignatureBytes];
  size_t length = sizeof signature;
  // Ed25519 hashes internally: no digest (NULL md) and one-shot EVP_DigestSign only.
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr,
                         const_cast<EVP_PKEY*>(private_key)) != 1 ||
      EVP_DigestSign(ctx.get(), signature, &length,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      length != sizeof signature) {
    return absl::InternalError("Ed25519 signing failed (is the key a private key?)");
  }
  statement.signature_hex =
      HexEncode(absl::string_view(reinterpret_cast<const char*>(signature), length));
  return statement;
}

absl::Status VerifyStatementSignature(const HeadStatement& statement, const EVP_PKEY* public_key) {
  if (!IsEd25519(public_key)) return absl::InvalidArgumentError("the key is not an Ed25519 key");
  if (!IsLowerHex(statement.signature_hex, 2 * kEd25519SignatureBytes)) {
    return absl::UnauthenticatedError("the statement has no valid signature");
  }
  const std::string message = CanonicalBytes(statement);
  const std::string signature = HexDecode(statement.signature_hex);
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr,
                                   const_cast<EVP_PKEY*>(public_key)) != 1) {
    return absl::InternalError("Ed25519 verification could not start");
  }
  const int rc = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
      reinterpret_cast<const unsigned char*>(message.data()), message.size());
  if (rc != 1) return absl::UnauthenticatedError("signature invalid");
  return absl::OkStatus();
}

absl::StatusOr<Pkey> GenerateSigningKey() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return absl::InternalError("Ed25519 key generation failed");
  return key;
}

std::string PrivateKeyPem(const EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return "";
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, length);
}

std::string PublicKeyPem(const EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) return "";
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, length);
}

namespace {

// Refuses a passphrase instead of OpenSSL's default of prompting on the terminal.
int NoPassphrase(char*, int, int, void*) { return -1; }

absl::StatusOr<Pkey> KeyFromPem(absl::string_view pem, bool is_private) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return absl::InternalError("out of memory reading a key");
  Pkey key(is_private ? PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr)
                      : PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassphrase, nullptr));
  const char* kind = is_private ? "private" : "public";
  if (!key)
    return absl::InvalidArgumentError(absl::StrCat("not an unencrypted PEM ", kind, " key"));
  if (!IsEd25519(key.get())) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", kind, " key is not an Ed25519 key (tally audit keygen makes one)"));
  }
  return key;
}

}  // namespace

absl::StatusOr<Pkey> PrivateKeyFromPem(absl::string_view pem) { return KeyFromPem(pem, true); }

absl::StatusOr<Pkey> PublicKeyFromPem(absl::string_view pem) { return KeyFromPem(pem, false); }

}  // namespace tally::ledger
