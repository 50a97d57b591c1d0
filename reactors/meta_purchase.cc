#include "reactors/meta_purchase.h"

#include "absl/strings/str_cat.h"
#include "projections/payment_fold.h"
#include "reactors/meta_capi.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tenants/bot_directory.h"

namespace tally::reactors {
namespace {

namespace pb = payments::v1;

bool Concerns(const std::string& type) {
  return type == "tally.payments.v1.PaymentCreated" ||
         type == "tally.payments.v1.GatewayWebhookReceived" ||
         type == "tally.payments.v1.GatewayStatusPolled" ||
         type == "tally.payments.v1.DeliveryAccessed";
}

// Paid, confirmed, created, and no Purchase requested yet.
bool Requestable(const projections::PaymentState& state) {
  return state.status == projections::PaymentStatus::kPaid && state.paid_confirmed &&
         state.created && state.purchase.state.empty();
}

}  // namespace

MetaPurchaseReactor::MetaPurchaseReactor(ledger::EventStore& store, tenants::SecretBox box,
                                         const ledger::Clock& clock, MetaOptions options)
    : store_(store),
      box_(std::move(box)),
      clock_(clock),
      options_(std::move(options)),
      states_(store),
      appends_(store) {}

absl::Status MetaPurchaseReactor::React(pqxx::transaction_base& /*txn*/,
                                        const ledger::RecordedEvent& event) {
  if (!projections::IsPaymentStream(event.stream_id)) return absl::OkStatus();
  // Every event of the stream is folded; the stream is read back only after one that leaves
  // the payment paid, confirmed and without a Purchase requested.
  auto through = states_.Through(event);
  if (!through.ok()) return through.status();
  if (!Concerns(event.type) || !Requestable(*through)) return absl::OkStatus();
  // Requested earlier in this batch: requesting again would repeat the same key.
  if (appends_.Pending(event.partition, event.stream_id)) return absl::OkStatus();
  auto events = store_.ReadStreamInPartition(event.partition, event.stream_id);
  if (!events.ok()) return events.status();
  projections::PaymentState state;
  pb::PaymentCreated created;
  std::optional<pb::DeliveryAccessed> accessed;
  for (const auto& e : *events) {
    auto applied = projections::ApplyPaymentEvent(state, e);
    if (!applied.ok()) return applied.status();
    if (e.type == "tally.payments.v1.PaymentCreated") created.ParseFromString(e.payload);
    if (e.type == "tally.payments.v1.DeliveryAccessed" && !accessed.has_value()) {
      pb::DeliveryAccessed a;
      if (a.ParseFromString(e.payload)) accessed = a;
    }
  }
  // Requested already (pending, failed or sent): the outbox finishes it, and asking again could
  // only repeat the key.
  if (!Requestable(state) || created.bot_id().empty() || created.payment_id().empty()) {
    return absl::OkStatus();
  }
  auto config = tenants::ResolveBotConfig(store_, box_, created.bot_id());
  if (config.status().code() == absl::StatusCode::kNotFound) return absl::OkStatus();
  if (config.status().code() == absl::StatusCode::kUnavailable) return config.status();
  // A configuration that cannot be read (a token that no longer opens under the master key)
  // must not stop this reactor for every tenant of the partition: the Purchase is requested
  // without a pixel, and the sender parks it with the reason, where an operator sees it.
  tenants::MetaSettings meta;
  if (config.ok()) {
    if (!config->meta.has_value() || config->meta->pixel_id.empty()) return absl::OkStatus();
    meta = *config->meta;
  }
  const bool on_paid = meta.trigger == "paid";
  if (!on_paid && !accessed.has_value()) return absl::OkStatus();

  PurchaseInput input = PurchaseFromPayment(created, state.paid_at_us / 1000000);
  if (accessed.has_value()) {
    // The buyer's own browser, when the charge tracked none: Meta requires a user agent.
    if (input.tracking.client_user_agent().empty()) {
      input.tracking.set_client_user_agent(accessed->client_user_agent());
    }
    if (input.tracking.client_ip().empty()) input.tracking.set_client_ip(accessed->client_ip());
  }
  pb::MetaPurchaseRequested requested;
  requested.set_event_id(PurchaseEventId(input));
  requested.set_pixel_id(meta.pixel_id);
  *requested.mutable_value() = created.amount();
  requested.set_payment_id(created.payment_id());
  requested.set_tenant_id(state.tenant_id.empty() ? created.tenant_id() : state.tenant_id);
  requested.set_bot_id(created.bot_id());
  requested.set_event_time_s(input.paid_at_s);
  requested.set_trigger(on_paid ? "paid" : "delivery_access");
  // An event that cannot be built is still requested — empty — so that it is parked with its
  // reason where an operator sees it, instead of silently never sent.
  auto event_json = BuildPurchaseEvent(input, options_.fallback_source_url);
  if (event_json.ok()) requested.set_event_json(*event_json);

  ledger::v1::Metadata metadata;
  metadata.set_source(ledger::v1::SOURCE_REACTOR);
  metadata.set_actor("meta_purchase");
  metadata.set_causation_position(event.position);
  metadata.set_received_at_us(clock_.NowMicros());
  // Durable before the checkpoint moves past this event (Settle).
  appends_.Start(event.partition, {requested.tenant_id(),
                                   event.stream_id,
                                   ledger::ExpectedVersion::Any(),
                                   {{"tally.payments.v1.MetaPurchaseRequested",
                                     requested.SerializeAsString(), metadata.SerializeAsString()}},
                                   absl::StrCat("meta-purchase:", created.payment_id())});
  return absl::OkStatus();
}

absl::Status MetaPurchaseReactor::Settle(int partition) {
  return appends_.SettleAndOffer(partition, offer_);
}

MetaKind::MetaKind(ledger::EventStore& store, tenants::SecretBox box, gateways::Transport transport,
                   const ledger::Clock& clock, MetaOptions options)
    : store_(store),
      box_(std::move(box)),
      transport_(std::move(transport)),
      clock_(clock),
      options_(std::move(options)) {
  kind_.reactor = "meta_purchase";
  UseStandardOutboxEvents<pb::MetaPurchaseRequested, pb::MetaPurchaseAttempted,
                          pb::MetaPurchaseSucceeded, pb::MetaPurchaseFailed>(kind_);
  kind_.send = [this](const OutboxItem& item) { return Send(item); };
  kind_.backoff = {1'000'000, 15 * 60 * 1'000'000};
  kind_.lease_us = 30 * 1'000'000;  // Meta suggests a ~1.5 s client timeout
  kind_.concurrency = 8;
}

SendResult MetaKind::Send(const OutboxItem& item) {
  SendResult r;
  r.outcome = SendResult::Outcome::kTerminal;
  pb::MetaPurchaseRequested requested;
  if (!requested.ParseFromString(item.request)) {
    r.error = "MetaPurchaseRequested does not parse";
    return r;
  }
  if (requested.event_json().empty()) {
    r.error = "the Purchase event could not be built (no user agent or source URL known)";
    return r;
  }
  if (IsTooOldForMeta(requested.event_time_s(), clock_.NowMicros() / 1000000)) {
    r.error = "the payment is more than 7 days old: Meta would reject the event";
    return r;
  }
  auto config = tenants::ResolveBotConfig(store_, box_, requested.bot_id());
  if (!config.ok()) {
    r.outcome = config.status().code() == absl::StatusCode::kUnavailable
                    ? SendResult::Outcome::kRetry
                    : SendResult::Outcome::kTerminal;
    r.error = std::string(config.status().message());
    return r;
  }
  if (!config->meta.has_value()) {
    r.error = "the bot has no Meta configuration any more";
    return r;
  }
  auto request = BuildEventsRequest(options_.api_base, options_.api_version, requested.pixel_id(),
                                    config->meta->access_token, requested.event_json(),
                                    config->meta->test_event_code);
  if (!request.ok()) {
    r.error = std::string(request.status().message());
    return r;
  }
  request->description = absl::StrCat("meta events for pixel ", requested.pixel_id());
  MetaAnswer answer = ClassifyAnswer(transport_(*request));
  r.http_status = answer.http_status;
  r.error_code = answer.error_code;
  r.error = answer.message;
  switch (answer.outcome) {
    case MetaOutcome::kSucceeded: {
      pb::MetaPurchaseSucceeded succeeded;
      succeeded.set_event_id(requested.event_id());
      succeeded.set_events_received(answer.events_received);
      succeeded.set_fbtrace_id(answer.fbtrace_id);
      succeeded.set_attempt(item.attempt);
      r.outcome = SendResult::Outcome::kSucceeded;
      r.success_payload = succeeded.SerializeAsString();
      break;
    }
    case MetaOutcome::kRetryable:
      r.outcome = SendResult::Outcome::kRetry;
      break;
    case MetaOutcome::kTerminal:
      r.outcome = SendResult::Outcome::kTerminal;
      break;
  }
  return r;
}

}  // namespace tally::reactors
