#pragma once
// The small HTML pages buyers open from their Telegram messages (delivery and offer links):
// escaped text, no cache, no indexing, and never an internal message or a stack trace.

#include <string>

#include "absl/strings/string_view.h"
#include "http/message.h"

namespace tally::http {

std::string HtmlEscape(absl::string_view text);

// A page with `title` and the (already escaped) `body_html`.
HttpResponse HtmlPage(int status, const std::string& title, const std::string& body_html);

// 503: the database is unavailable; the buyer is asked to try again.
HttpResponse TryAgainPage();

// 200: a charge to pay — `heading`, the amount (reais), the PIX copy-and-paste code (escaped
// here) and how access arrives.
HttpResponse PixPage(const std::string& heading, int64_t amount_minor, const std::string& pix);

}  // namespace tally::http
