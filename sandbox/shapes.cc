#include "sandbox/shapes.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace tally::sandbox {
namespace {

uint16_t Crc16Ccitt(absl::string_view data) {
  uint16_t crc = 0xFFFF;
  for (unsigned char c : data) {
    crc ^= static_cast<uint16_t>(c) << 8;
    for (int i = 0; i < 8; ++i) crc = (crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1;
  }
  return crc;
}

std::string Tlv(absl::string_view id, absl::string_view value) {
  return absl::StrCat(id, absl::StrFormat("%02d", value.size()), value);
}

}  // namespace

http::HttpResponse Json(int status, std::string body) {
  return http::HttpResponse{status, "application/json", std::move(body)};
}

std::string Bearer(const http::HttpRequest& request) {
  const std::string value = http::HeaderValue(request, "authorization");
  if (absl::StartsWithIgnoreCase(value, "Bearer ")) return value.substr(7);
  return "";
}

std::string IsoUtc(int64_t unix_seconds) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(unix_seconds),
                          absl::UTCTimeZone());
}

std::string PixCopyPaste(const std::string& txid, int64_t amount_minor) {
  const std::string merchant = Tlv("00", "BR.GOV.BCB.PIX") +
                               Tlv("25", absl::StrCat("pix.sandbox.tally.example/qr/v2/", txid));
  const std::string amount = absl::StrFormat("%d.%02d", amount_minor / 100, amount_minor % 100);
  std::string code =
      absl::StrCat(Tlv("00", "01"), Tlv("01", "12"), Tlv("26", merchant), Tlv("52", "0000"),
                   Tlv("53", "986"), Tlv("54", amount), Tlv("58", "BR"), Tlv("59", "TALLY SANDBOX"),
                   Tlv("60", "SAO PAULO"), Tlv("62", Tlv("05", "***")), "6304");
  return absl::StrCat(code, absl::StrFormat("%04X", Crc16Ccitt(code)));
}

}  // namespace tally::sandbox
