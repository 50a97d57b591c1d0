#pragma once
// Sealing secrets at rest: AES-256-GCM with a random 96-bit nonce. A sealed value is
// nonce (12 bytes) || ciphertext || tag (16 bytes). Thread-safe.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tally::tenants {

class SecretBox {
 public:
  // `key_text` is 64 hex digits (32 bytes), as TALLY_MASTER_KEY holds it. InvalidArgument
  // otherwise (the message never contains the key).
  static absl::StatusOr<SecretBox> FromHex(absl::string_view key_text);

  absl::StatusOr<std::string> Seal(absl::string_view plaintext) const;
  // DataLoss when the value was tampered with or sealed under another key.
  absl::StatusOr<std::string> Open(absl::string_view sealed) const;

 private:
  explicit SecretBox(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

}  // namespace tally::tenants
