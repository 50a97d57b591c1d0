#pragma once
// The cryptography of webhook authenticity: HMAC-SHA256 over the raw body (or a manifest built
// from it) and constant-time comparison of secrets and signatures. Pure; thread-safe.

#include <string>

#include "absl/strings/string_view.h"

namespace tally::gateways {

// HMAC-SHA256(key, message) as lowercase hex.
std::string HmacSha256Hex(absl::string_view key, absl::string_view message);

// Compares in time that depends only on the lengths, never on where the bytes differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// Lowercase hex of SHA-256(data).
std::string Sha256Hex(absl::string_view data);

}  // namespace tally::gateways
