#include "http/html_page.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace tally::http {

std::string HtmlEscape(absl::string_view text) {
  return absl::StrReplaceAll(
      text, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}, {"'", "&#39;"}});
}

HttpResponse HtmlPage(int status, const std::string& title, const std::string& body_html) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/html; charset=utf-8";
  response.body = absl::StrCat(
      "<!doctype html><html lang=\"pt-BR\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>",
      HtmlEscape(title),
      "</title><style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;"
      "padding:0 1rem;line-height:1.5}a.button{display:inline-block;padding:.7rem 1.2rem;"
      "background:#0a7;color:#fff;border-radius:.4rem;text-decoration:none}"
      "textarea{width:100%;font-family:monospace}</style></head><body>",
      body_html, "</body></html>");
  response.headers.emplace_back("Cache-Control", "no-store");
  response.headers.emplace_back("X-Robots-Tag", "noindex");
  return response;
}

HttpResponse PixPage(const std::string& heading, int64_t amount_minor, const std::string& pix) {
  return HtmlPage(
      200, heading,
      absl::StrCat(
          "<h1>", HtmlEscape(heading), "</h1><p>",
          HtmlEscape(absl::StrFormat("R$ %d,%02d", amount_minor / 100, amount_minor % 100)),
          "</p><p>PIX copia e cola:</p><textarea readonly rows=\"5\">", HtmlEscape(pix),
          "</textarea><p>Pague no app do seu banco; o acesso chega no Telegram.</p>"));
}

HttpResponse TokenPage(const HttpRequest& request, const char* page, const std::string& token,
                       const std::function<HttpResponse()>& render) {
  if (request.method != "GET") {
    return HtmlPage(405, "Método não permitido", "<h1>Método não permitido</h1>");
  }
  try {
    return render();
  } catch (const std::exception& e) {
    spdlog::error("{} page failed token_prefix={} error=\"{}\"", page, token.substr(0, 8),
                  e.what());
    return TryAgainPage();
  }
}

HttpResponse TryAgainPage() {
  return HtmlPage(503, "Tente novamente",
                  "<h1>Tente novamente em instantes</h1><p>Não conseguimos abrir esta página "
                  "agora.</p>");
}

}  // namespace tally::http
