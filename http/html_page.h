#pragma once
// The small HTML pages buyers open from their Telegram messages (delivery and offer links):
// escaped text, no cache, no indexing, and never an internal message or a stack trace.

#include <functional>
#include <string>

#include "absl/strings/string_view.h"
#include "http/message.h"

namespace tally::http {

std::string HtmlEscape(absl::string_view text);

// A page with `title` and the (already escaped) `body_html`.
HttpResponse HtmlPage(int status, const std::string& title, const std::string& body_html);

// 503: the database is unavailable; the buyer is asked to try again.
HttpResponse TryAgainPage();

// A page opened from a link carrying `token`: 405 unless GET; otherwise `render`'s page, or,
// when it throws, an error in the log naming `page` and the token's first 8 characters and the
// TryAgainPage — never the exception's text.
HttpResponse TokenPage(const HttpRequest& request, const char* page, const std::string& token,
                       const std::function<HttpResponse()>& render);

// 200: a charge to pay — `heading`, the amount (reais), the PIX copy-and-paste code (escaped
// here) and how access arrives.
HttpResponse PixPage(const std::string& heading, int64_t amount_minor, const std::string& pix);

}  // namespace tally::http
