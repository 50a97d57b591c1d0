#include "http/delivery_page.h"

#include <spdlog/spdlog.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "http/html_page.h"
#include "http/request_metadata.h"
#include "projections/payment_fold.h"
#include "reactors/delivery.h"
#include "tally/bots/v1/bot_events.pb.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::http {
namespace {

namespace pb = payments::v1;

HttpResponse NotFound() {
  return HtmlPage(404, "Link não encontrado",
                  "<h1>Link não encontrado</h1><p>Este link de entrega não existe. Confira se "
                  "copiou a mensagem inteira.</p>");
}

bool IsHttpUrl(absl::string_view url) {
  return absl::StartsWith(url, "https://") || absl::StartsWith(url, "http://");
}

}  // namespace

DeliveryPage::DeliveryPage(ledger::EventStore& store, const ledger::Clock& clock,
                           std::string delivery_secret)
    : store_(store), clock_(clock), secret_(std::move(delivery_secret)) {}

void DeliveryPage::Handle(const HttpRequest& request, const std::string& token, Responder respond) {
  if (request.method != "GET" && request.method != "HEAD") {
    return respond(HtmlPage(405, "Método não permitido", "<h1>Método não permitido</h1>"));
  }
  HttpResponse response;
  try {
    response = Render(request, token);
  } catch (const std::exception& e) {
    spdlog::error("delivery page failed token_prefix={} error=\"{}\"", token.substr(0, 8),
                  e.what());
    response = TryAgainPage();
  }
  respond(std::move(response));
}

HttpResponse DeliveryPage::Render(const HttpRequest& request, const std::string& token) {
  const std::optional<std::string> payment_id = reactors::VerifyDeliveryToken(secret_, token);
  if (!payment_id.has_value()) return NotFound();
  auto issued_event = store_.FindByIdempotencyKey("delivery:" + *payment_id);
  if (!issued_event.ok()) return TryAgainPage();
  if (!issued_event->has_value()) return NotFound();
  pb::DeliveryIssued issued;
  if (!issued.ParseFromString((*issued_event)->payload)) return TryAgainPage();
  const std::string& stream = (*issued_event)->stream_id;
  auto events = store_.ReadStream(issued.tenant_id(), stream);
  if (!events.ok()) return TryAgainPage();
  projections::PaymentState state;
  int accesses = 0;
  for (const auto& e : *events) {
    if (!projections::ApplyPaymentEvent(state, e).ok()) return TryAgainPage();
    if (e.type == "tally.payments.v1.DeliveryAccessed") ++accesses;
  }
  if (state.status == projections::PaymentStatus::kRefunded ||
      state.status == projections::PaymentStatus::kChargedBack) {
    return HtmlPage(410, "Acesso encerrado",
                    "<h1>Acesso encerrado</h1><p>Este pagamento foi estornado, e o acesso ao "
                    "produto foi encerrado.</p>");
  }
  // Only a GET is the buyer opening the link; a HEAD (a link checker) records nothing.
  if (request.method == "GET" && accesses < kMaxRecordedAccesses) {
    pb::DeliveryAccessed accessed;
    accessed.set_client_ip(request.remote_address);
    accessed.set_client_user_agent(HeaderValue(request, "user-agent").substr(0, 512));
    accessed.set_access_count(accesses + 1);
    const ledger::v1::Metadata metadata = RequestMetadata(
        request, NewRequestId(), ledger::v1::SOURCE_API, "buyer", clock_.NowMicros());
    auto appended =
        store_.Append({issued.tenant_id(),
                       stream,
                       ledger::ExpectedVersion::Any(),
                       {{"tally.payments.v1.DeliveryAccessed", accessed.SerializeAsString(),
                         metadata.SerializeAsString()}},
                       absl::StrCat("delivery-access:", *payment_id, ":", accesses + 1)});
    if (!appended.ok()) return TryAgainPage();
  }
  // What is delivered, as the bot configures the product now.
  std::string url;
  std::string text;
  auto bot_events = store_.ReadStream(issued.tenant_id(), "bot-" + issued.bot_id());
  if (!bot_events.ok()) return TryAgainPage();
  for (const auto& e : *bot_events) {
    if (e.type != "tally.bots.v1.ProductConfigured") continue;
    bots::v1::ProductConfigured product;
    if (product.ParseFromString(e.payload) && product.product_id() == issued.product_id()) {
      url = product.deliver_url();
      text = product.deliver_text();
    }
  }
  std::string body = absl::StrCat("<h1>", HtmlEscape(issued.product_name()), "</h1>");
  if (!text.empty()) {
    absl::StrAppend(&body, "<p>", absl::StrReplaceAll(HtmlEscape(text), {{"\n", "<br>"}}), "</p>");
  }
  if (IsHttpUrl(url)) {
    absl::StrAppend(&body, "<p><a class=\"button\" href=\"", HtmlEscape(url),
                    "\" rel=\"noopener noreferrer\">Acessar o produto</a></p>");
  }
  if (text.empty() && !IsHttpUrl(url)) {
    absl::StrAppend(&body, "<p>Pagamento confirmado. O vendedor enviará os detalhes.</p>");
  }
  return HtmlPage(200, issued.product_name(), body);
}

}  // namespace tally::http
