#include "reactors/delivery.h"

#include <spdlog/spdlog.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "gateways/payload_fields.h"
#include "gateways/webhook_crypto.h"
#include "ledger/event_json.h"
#include "projections/payment_fold.h"
#include "tally/bots/v1/bot_events.pb.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::reactors {
namespace {

namespace pb = payments::v1;

constexpr size_t kTokenMacHex = 32;

// The tenant a payment stream's event names (the partition key of its stream).
std::string TenantOf(const ledger::RecordedEvent& e) {
  if (e.type == "tally.payments.v1.PaymentCreated") {
    pb::PaymentCreated m;
    return m.ParseFromString(e.payload) ? m.tenant_id() : "";
  }
  if (e.type == "tally.payments.v1.GatewayWebhookReceived") {
    pb::GatewayWebhookReceived m;
    return m.ParseFromString(e.payload) ? m.tenant_id() : "";
  }
  if (e.type == "tally.payments.v1.GatewayStatusPolled") {
    pb::GatewayStatusPolled m;
    return m.ParseFromString(e.payload) ? m.tenant_id() : "";
  }
  return "";
}

// Paid, confirmed, created, and not delivered yet.
bool Deliverable(const projections::PaymentState& state) {
  return state.status == projections::PaymentStatus::kPaid && state.paid_confirmed &&
         state.created && state.delivery_state.empty();
}

// The buyer's Telegram chat from a customer id "tg:<chat id>"; nullopt otherwise.
// The latest configuration of `product_id` in the bot's stream, if any.
absl::StatusOr<std::optional<bots::v1::ProductConfigured>> FindProduct(
    ledger::EventStore& store, const std::string& tenant_id, const std::string& bot_id,
    const std::string& product_id) {
  auto events = store.ReadStream(tenant_id, "bot-" + bot_id);
  if (!events.ok()) return events.status();
  std::optional<bots::v1::ProductConfigured> found;
  for (const auto& e : *events) {
    if (e.type != "tally.bots.v1.ProductConfigured") continue;
    bots::v1::ProductConfigured product;
    if (!product.ParseFromString(e.payload)) {
      return absl::DataLossError(
          absl::StrCat("ProductConfigured at position ", e.position, " does not parse"));
    }
    if (product.product_id() == product_id) found = std::move(product);
  }
  return found;
}

}  // namespace

std::string DeliveryToken(const std::string& secret, const std::string& payment_id) {
  return absl::StrCat(payment_id, ".",
                      gateways::HmacSha256Hex(secret, payment_id).substr(0, kTokenMacHex));
}

std::optional<std::string> VerifyDeliveryToken(const std::string& secret,
                                               const std::string& token) {
  const size_t dot = token.rfind('.');
  if (dot == std::string::npos || dot == 0 || token.size() - dot - 1 != kTokenMacHex ||
      token.size() > 200) {
    return std::nullopt;
  }
  const std::string payment_id = token.substr(0, dot);
  if (!gateways::ConstantTimeEquals(DeliveryToken(secret, payment_id), token)) return std::nullopt;
  return payment_id;
}

std::string DeliverySecretFromMasterKey(const std::string& master_key_hex) {
  return gateways::HmacSha256Hex(master_key_hex, "tally delivery tokens v1");
}

DeliveryReactor::DeliveryReactor(ledger::EventStore& store, const ledger::Clock& clock,
                                 DeliveryOptions options)
    : store_(store), clock_(clock), options_(std::move(options)), states_(store), appends_(store) {}

absl::Status DeliveryReactor::React(pqxx::transaction_base& /*txn*/,
                                    const ledger::RecordedEvent& event) {
  if (!projections::IsPaymentStream(event.stream_id)) return absl::OkStatus();
  // Every event of the stream is folded; the stream is read back only after one that leaves
  // the payment deliverable.
  auto through = states_.Through(event);
  if (!through.ok()) return through.status();
  if (!Deliverable(*through)) return absl::OkStatus();
  // Decided earlier in this batch: deciding again would repeat the same key.
  if (appends_.Pending(event.partition, event.stream_id)) return absl::OkStatus();
  const std::string tenant_id = TenantOf(event);
  if (tenant_id.empty()) return absl::OkStatus();  // not an event that can confirm a payment
  auto events = store_.ReadStream(tenant_id, event.stream_id);
  if (!events.ok()) return events.status();
  projections::PaymentState state;
  pb::PaymentCreated created;
  for (const auto& e : *events) {
    auto applied = projections::ApplyPaymentEvent(state, e);
    if (!applied.ok()) return applied.status();
    if (e.type == "tally.payments.v1.PaymentCreated") created.ParseFromString(e.payload);
  }
  if (!Deliverable(state)) return absl::OkStatus();
  const std::optional<int64_t> chat = TelegramChatOf(created.customer_id());
  if (!chat.has_value() || created.bot_id().empty()) return absl::OkStatus();
  // A plan's payment is delivered as its subscription's access message (with the VIP invite),
  // by the subscriptions reactor.
  if (!created.plan_id().empty()) return absl::OkStatus();

  auto product = FindProduct(store_, tenant_id, created.bot_id(), created.product_id());
  if (!product.ok()) return product.status();
  const std::string product_name = product->has_value()            ? (*product)->name()
                                   : created.description().empty() ? "seu pedido"
                                                                   : created.description();
  pb::DeliveryIssued issued;
  issued.set_token_sha256(
      gateways::Sha256Hex(DeliveryToken(options_.delivery_secret, created.payment_id())));
  issued.set_channel("telegram");
  issued.set_payment_id(created.payment_id());
  issued.set_tenant_id(tenant_id);
  issued.set_bot_id(created.bot_id());
  issued.set_chat_id(*chat);
  issued.set_product_id(created.product_id());
  issued.set_product_name(product_name);
  // The link is a bearer credential: the log keeps a placeholder, the sender puts it in.
  issued.set_message_text(absl::StrCat("Pagamento confirmado: ", product_name,
                                       "\n\nAcesse seu produto: ", kDeliveryLinkPlaceholder));
  ledger::v1::Metadata metadata;
  metadata.set_source(ledger::v1::SOURCE_REACTOR);
  metadata.set_actor("delivery");
  metadata.set_causation_position(event.position);
  metadata.set_received_at_us(clock_.NowMicros());
  // Durable before the checkpoint moves past this event (Settle).
  appends_.Start(event.partition, {tenant_id,
                                   event.stream_id,
                                   ledger::ExpectedVersion::Any(),
                                   {{"tally.payments.v1.DeliveryIssued", issued.SerializeAsString(),
                                     metadata.SerializeAsString()}},
                                   absl::StrCat("delivery:", created.payment_id())});
  return absl::OkStatus();
}

absl::Status DeliveryReactor::Settle(int partition) {
  return appends_.SettleAndOffer(partition, offer_);
}

DeliveryKind::DeliveryKind(TelegramBots& telegram, DeliveryOptions options)
    : options_(std::move(options)) {
  kind_.reactor = "delivery";
  UseStandardOutboxEvents<pb::DeliveryIssued, pb::DeliveryAttempted, pb::DeliveryMessageSent,
                          pb::DeliveryFailed>(kind_);
  SendThroughTelegram<pb::DeliveryIssued, pb::DeliveryMessageSent>(
      kind_, telegram, [this](const pb::DeliveryIssued& issued) {
        std::string public_url = options_.public_url;
        while (!public_url.empty() && public_url.back() == '/') public_url.pop_back();
        const std::string link = absl::StrCat(
            public_url, "/delivery/", DeliveryToken(options_.delivery_secret, issued.payment_id()));
        return TelegramMessage{
            issued.bot_id(), issued.chat_id(),
            absl::StrReplaceAll(issued.message_text(), {{kDeliveryLinkPlaceholder, link}})};
      });
  kind_.backoff = {2'000'000, 10 * 60 * 1'000'000};
  kind_.lease_us = 60 * 1'000'000;
  kind_.concurrency = 16;
}

}  // namespace tally::reactors
