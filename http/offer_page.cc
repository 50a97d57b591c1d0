#include "http/offer_page.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "gateways/payload_fields.h"
#include "gateways/webhook_crypto.h"
#include "http/html_page.h"
#include "http/request_metadata.h"
#include "projections/payment_fold.h"
#include "reactors/upsells.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::http {
namespace {

namespace pb = payments::v1;

HttpResponse NotFound() {
  return HtmlPage(404, "Oferta não encontrada",
                  "<h1>Oferta não encontrada</h1><p>Este link de oferta não existe. Confira se "
                  "copiou a mensagem inteira.</p>");
}

}  // namespace

OfferPage::OfferPage(ledger::EventStore& store, const ledger::Clock& clock, ChargeApi& charges,
                     std::string offer_secret)
    : store_(store), clock_(clock), charges_(charges), secret_(std::move(offer_secret)) {}

void OfferPage::Handle(const HttpRequest& request, const std::string& token, Responder respond) {
  respond(TokenPage(request, "offer", token, [&] { return Render(request, token); }));
}

HttpResponse OfferPage::Render(const HttpRequest& request, const std::string& token) {
  const auto offer = reactors::VerifyOfferToken(secret_, token);
  if (!offer.has_value()) return NotFound();
  const auto& [payment_id, offer_id] = *offer;
  auto decision =
      store_.FindByIdempotencyKey(absl::StrCat("offer-decision:", payment_id, ":", offer_id));
  if (!decision.ok()) return TryAgainPage();
  if (!decision->has_value()) return NotFound();
  if ((*decision)->type != "tally.payments.v1.UpsellSent") {
    return HtmlPage(410, "Oferta encerrada",
                    "<h1>Oferta encerrada</h1><p>Esta oferta não está mais disponível.</p>");
  }
  pb::UpsellSent sent;
  if (!sent.ParseFromString((*decision)->payload)) return TryAgainPage();
  const HttpResponse gone =
      HtmlPage(410, "Oferta encerrada",
               "<h1>Oferta encerrada</h1><p>Esta oferta não está mais disponível.</p>");
  if (sent.expires_at_us() > 0 && clock_.NowMicros() > sent.expires_at_us()) return gone;
  // Checked again at every opening: the offer still configured, an upsell's parent still paid,
  // a downsell's parent never paid.
  auto offers = reactors::OffersAsOf(store_, sent.tenant_id(), sent.bot_id(), 0);
  if (!offers.ok()) return TryAgainPage();
  if (!offers->offers.count(offer_id)) return gone;
  if (!sent.parent_stream_id().empty()) {
    auto events = store_.ReadStream(sent.tenant_id(), sent.parent_stream_id());
    if (!events.ok()) return TryAgainPage();
    projections::PaymentState parent;
    for (const auto& e : *events) {
      if (!projections::ApplyPaymentEvent(parent, e).ok()) return TryAgainPage();
    }
    const bool upsell = sent.kind() != "downsell";
    if (upsell ? parent.status != projections::PaymentStatus::kPaid : parent.paid_at_us != 0) {
      return gone;
    }
  }

  ChargeInput input;
  pb::PaymentCreated& payment = input.payment;
  payment.set_gateway(sent.gateway());
  *payment.mutable_amount() = sent.price();
  payment.set_bot_id(sent.bot_id());
  payment.set_product_id(sent.product_id());
  payment.set_customer_id(absl::StrCat("tg:", sent.chat_id()));
  payment.set_parent_payment_id(payment_id);
  payment.set_offer_id(offer_id);
  payment.set_offer_kind(sent.kind());
  payment.set_description(sent.kind() == "downsell" ? "Oferta" : "Oferta especial");
  const std::string name = absl::StrCat("offer:", payment_id, ":", offer_id);
  HttpResponse created = charges_.Create(request, NewRequestId(), sent.tenant_id(), "offer_page",
                                         gateways::Sha256Hex(name), name, std::move(input));
  if (created.status != 200 && created.status != 201) {
    // 409/422 will not change by trying again (the seller's configuration, a charge in doubt):
    // the operator's to look into; anything else may.
    const bool lasting = created.status == 409 || created.status == 422;
    spdlog::log(lasting ? spdlog::level::err : spdlog::level::warn,
                "offer charge not created payment={} offer={} status={} body={}", payment_id,
                offer_id, created.status, created.body.substr(0, 300));
    if (lasting) {
      return HtmlPage(410, "Oferta indisponível",
                      "<h1>Oferta indisponível</h1><p>Não conseguimos gerar o PIX desta oferta. "
                      "Fale com o vendedor.</p>");
    }
    return HtmlPage(503, "Tente novamente",
                    "<h1>Tente novamente em instantes</h1><p>Não conseguimos gerar o PIX desta "
                    "oferta agora.</p>");
  }
  auto fields = gateways::PayloadFields::ParseJson(created.body);
  const std::string pix = fields.ok() ? fields->Text("pix_copy_paste") : "";
  return PixPage("Sua oferta", sent.price().amount_minor(), pix);
}

}  // namespace tally::http
