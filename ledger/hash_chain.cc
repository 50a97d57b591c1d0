#include "ledger/hash_chain.h"

#include <openssl/evp.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>

namespace tally::ledger {
namespace {

constexpr absl::string_view kFormatTag = "TALLY-LOG-1";

void PutU8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }

void PutU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

void PutU64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

void PutBytes(std::string& out, absl::string_view bytes) {
  PutU32(out, static_cast<uint32_t>(bytes.size()));
  out.append(bytes.data(), bytes.size());
}

}  // namespace

std::string GenesisHash() { return std::string(kHashBytes, '\0'); }

std::string CanonicalEncoding(const RecordedEvent& event) {
  std::string out;
  out.reserve(96 + event.stream_id.size() + event.type.size() + event.payload.size() +
              event.metadata.size() + event.idempotency_key.size());
  PutBytes(out, kFormatTag);
  PutU32(out, static_cast<uint32_t>(event.partition));
  PutU64(out, static_cast<uint64_t>(event.position));
  PutBytes(out, event.stream_id);
  PutU64(out, static_cast<uint64_t>(event.stream_version));
  PutBytes(out, event.type);
  PutBytes(out, event.payload);
  PutBytes(out, event.metadata);
  if (event.idempotency_key.empty()) {
    PutU8(out, 0);
  } else {
    PutU8(out, 1);
    PutBytes(out, event.idempotency_key);
  }
  PutU64(out, static_cast<uint64_t>(event.recorded_at_us));
  return out;
}

namespace {

std::string Sha256Parts(std::initializer_list<absl::string_view> parts) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  bool ok = ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1;
  for (absl::string_view part : parts) {
    ok = ok && EVP_DigestUpdate(ctx.get(), part.data(), part.size()) == 1;
  }
  if (!ok || EVP_DigestFinal_ex(ctx.get(), digest, &length) != 1) {
    // Only an allocation failure inside OpenSSL gets here; the caller cannot continue.
    throw std::runtime_error("SHA-256 failed");
  }
  return std::string(reinterpret_cast<const char*>(digest), length);
}

}  // namespace

std::string ChainHash(absl::string_view prev_hash, const RecordedEvent& event) {
  return Sha256Parts({prev_hash, CanonicalEncoding(event)});
}

std::string Sha256(absl::string_view data) { return Sha256Parts({data}); }

std::string HexEncode(absl::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

}  // namespace tally::ledger
