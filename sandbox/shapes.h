#pragma once
// The wire pieces several simulated services share: JSON answers, query parameters, Bearer
// tokens, timestamps, and the PIX copy-and-paste code every simulated gateway hands out. Each
// service's own shapes live in its file. Pure functions.

#include <cstdint>
#include <map>
#include <string>

#include "http/message.h"

namespace tally::sandbox {

// A query string's parameters, decoded.
using Query = std::map<std::string, std::string>;

// How long a PIX charge can be paid, as the gateways show it (expiry dates and times).
inline constexpr int64_t kPixLifetimeSeconds = 24 * 3600;

// The QR code image the PIX gateways return beside the copy-and-paste code.
inline constexpr char kQrCodePng[] =
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ";

// An answer with a JSON body.
http::HttpResponse Json(int status, std::string body);

// The token of an "Authorization: Bearer <token>" header, or "".
std::string Bearer(const http::HttpRequest& request);

// 2024-06-20T12:00:00Z
std::string IsoUtc(int64_t unix_seconds);

// An EMV "BR Code" (PIX copia e cola) for a dynamic charge, CRC16-CCITT included.
std::string PixCopyPaste(const std::string& txid, int64_t amount_minor);

}  // namespace tally::sandbox
