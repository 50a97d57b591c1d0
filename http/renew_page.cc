#include "http/renew_page.h"

#include <spdlog/spdlog.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gateways/payload_fields.h"
#include "gateways/webhook_crypto.h"
#include "http/html_page.h"
#include "http/request_metadata.h"
#include "reactors/subscriptions.h"
#include "reactors/upsells.h"
#include "tenants/bot_directory.h"

namespace tally::http {
namespace {

HttpResponse NotFound() {
  return HtmlPage(404, "Link não encontrado",
                  "<h1>Link não encontrado</h1><p>Este link de renovação não existe. Confira se "
                  "copiou a mensagem inteira.</p>");
}

HttpResponse Gone(const std::string& why) {
  return HtmlPage(410, "Renovação indisponível",
                  absl::StrCat("<h1>Renovação indisponível</h1><p>", HtmlEscape(why), "</p>"));
}

}  // namespace

RenewPage::RenewPage(ledger::EventStore& store, ChargeApi& charges, std::string renew_secret)
    : store_(store), charges_(charges), secret_(std::move(renew_secret)) {}

void RenewPage::Handle(const HttpRequest& request, const std::string& token, Responder respond) {
  respond(TokenPage(request, "renew", token, [&] { return Render(request, token); }));
}

HttpResponse RenewPage::Render(const HttpRequest& request, const std::string& token) {
  // The token is an offer-style token over (subscription id, period end).
  const auto named = reactors::VerifyOfferToken(secret_, token);
  int64_t period_end = 0;
  if (!named.has_value() || !absl::SimpleAtoi(named->second, &period_end)) return NotFound();
  const std::string& id = named->first;
  const std::string bot_id = id.substr(0, id.find('_'));
  auto bot = tenants::ResolveBot(store_, bot_id);
  if (bot.status().code() == absl::StatusCode::kNotFound) return NotFound();
  if (!bot.ok()) return TryAgainPage();
  auto sub = reactors::ReadSubscription(store_, bot->tenant_id, id);
  if (!sub.ok()) return TryAgainPage();
  if (!sub->exists) return NotFound();
  if (sub->ends_at_us != period_end) return Gone("Esta assinatura já foi renovada.");
  auto plans = tenants::PlansOf(store_, bot->tenant_id, bot_id);
  if (!plans.ok()) return TryAgainPage();
  auto plan = plans->find(sub->plan_id);
  if (plan == plans->end()) return Gone("Este plano não está mais à venda.");

  ChargeInput input;
  payments::v1::PaymentCreated& payment = input.payment;
  payment.set_gateway(sub->gateway);
  payment.mutable_amount()->set_amount_minor(plan->second.price_minor);
  payment.mutable_amount()->set_currency(plan->second.currency);
  payment.set_bot_id(bot_id);
  payment.set_plan_id(sub->plan_id);
  payment.set_customer_id(absl::StrCat("tg:", sub->chat_id));
  payment.set_description(absl::StrCat("Renovação ", plan->second.name).substr(0, 200));
  const std::string name = absl::StrCat("renew:", id, ":", period_end);
  HttpResponse created = charges_.Create(request, NewRequestId(), bot->tenant_id, "renew_page",
                                         gateways::Sha256Hex(name), name, std::move(input));
  if (created.status != 200 && created.status != 201) {
    const bool lasting = created.status == 409 || created.status == 422;
    spdlog::log(lasting ? spdlog::level::err : spdlog::level::warn,
                "renewal charge not created subscription={} status={} body={}", id, created.status,
                created.body.substr(0, 300));
    if (lasting) return Gone("Não conseguimos gerar o PIX da renovação. Fale com o vendedor.");
    return HtmlPage(503, "Tente novamente",
                    "<h1>Tente novamente em instantes</h1><p>Não conseguimos gerar o PIX da "
                    "renovação agora.</p>");
  }
  auto fields = gateways::PayloadFields::ParseJson(created.body);
  return PixPage(absl::StrCat("Renovação: ", plan->second.name), plan->second.price_minor,
                 fields.ok() ? fields->Text("pix_copy_paste") : "");
}

}  // namespace tally::http
