#include "reactors/welcome.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "tally/bots/v1/bot_events.pb.h"
#include "tally/leads/v1/lead_events.pb.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"

namespace tally::reactors {
namespace {

namespace lb = leads::v1;

constexpr char kLeadStarted[] = "tally.leads.v1.LeadStarted";
constexpr char kIssued[] = "tally.leads.v1.WelcomeIssued";
constexpr char kSent[] = "tally.leads.v1.WelcomeSent";
constexpr char kFailed[] = "tally.leads.v1.WelcomeFailed";

}  // namespace

WelcomeReactor::WelcomeReactor(ledger::EventStore& store, const ledger::Clock& clock)
    : store_(store), clock_(clock) {}

absl::Status WelcomeReactor::React(pqxx::transaction_base& /*txn*/,
                                   const ledger::RecordedEvent& event) {
  if (event.type != kLeadStarted) return absl::OkStatus();
  lb::LeadStarted lead;
  if (!lead.ParseFromString(event.payload)) {
    return absl::DataLossError(absl::StrCat("LeadStarted at ", event.position, " does not parse"));
  }
  if (lead.chat_id() == 0) return absl::OkStatus();
  // The welcome in force when the person started the bot (its stream shares the lead's
  // partition, so positions compare): a replay, or a reactor catching up, decides the same.
  auto bot_events = store_.ReadStreamInPartition(event.partition, "bot-" + lead.bot_id());
  if (!bot_events.ok()) return bot_events.status();
  std::string welcome_text;
  for (const auto& e : *bot_events) {
    if (e.position >= event.position) break;
    if (e.type != "tally.bots.v1.WelcomeConfigured") continue;
    bots::v1::WelcomeConfigured configured;
    if (!configured.ParseFromString(e.payload)) {
      // One bot's unreadable configuration must not stop every other bot's welcomes.
      spdlog::error("welcome: WelcomeConfigured at {} of bot {} does not parse", e.position,
                    lead.bot_id());
      continue;
    }
    welcome_text = configured.text();
  }
  if (welcome_text.empty()) return absl::OkStatus();

  // What the lead's stream held before this /start: a replay decides the same.
  auto events = store_.ReadStreamInPartition(event.partition, event.stream_id);
  if (!events.ok()) return events.status();
  bool issued = false, sent = false, parked = false;
  for (const auto& e : *events) {
    if (e.position >= event.position) break;
    if (e.type == kIssued) issued = true;
    if (e.type == kSent) sent = true;
    if (e.type == kFailed) {
      lb::WelcomeFailed failed;
      parked = failed.ParseFromString(e.payload) && failed.terminal();
    }
    if (e.type == "tally.payments.v1.OutboxRetryRequested") parked = false;
  }
  ledger::v1::Metadata metadata;
  metadata.set_source(ledger::v1::SOURCE_REACTOR);
  metadata.set_actor("welcome");
  metadata.set_causation_position(event.position);
  metadata.set_received_at_us(clock_.NowMicros());
  if (issued) {
    if (sent || !parked) return absl::OkStatus();
    payments::v1::OutboxRetryRequested retry;
    retry.set_reactor("welcome");
    retry.set_reason("the lead started the bot again");
    return store_
        .Append({lead.tenant_id(),
                 event.stream_id,
                 ledger::ExpectedVersion::Any(),
                 {{"tally.payments.v1.OutboxRetryRequested", retry.SerializeAsString(),
                   metadata.SerializeAsString()}},
                 absl::StrCat("welcome-retry:", event.stream_id, ":", event.position)})
        .status();
  }
  lb::WelcomeIssued welcome;
  welcome.set_bot_id(lead.bot_id());
  welcome.set_tenant_id(lead.tenant_id());
  welcome.set_telegram_user_id(lead.telegram_user_id());
  welcome.set_chat_id(lead.chat_id());
  welcome.set_text(welcome_text);
  return store_
      .Append({lead.tenant_id(),
               event.stream_id,
               ledger::ExpectedVersion::Any(),
               {{kIssued, welcome.SerializeAsString(), metadata.SerializeAsString()}},
               absl::StrCat("welcome:", lead.bot_id(), ":", lead.telegram_user_id())})
      .status();
}

WelcomeKind::WelcomeKind(TelegramBots& telegram) {
  kind_.reactor = "welcome";
  UseStandardOutboxEvents<lb::WelcomeIssued, lb::WelcomeAttempted, lb::WelcomeSent,
                          lb::WelcomeFailed>(kind_);
  SendThroughTelegram<lb::WelcomeIssued, lb::WelcomeSent>(
      kind_, telegram, [](const lb::WelcomeIssued& issued) {
        return TelegramMessage{issued.bot_id(), issued.chat_id(), issued.text()};
      });
  kind_.backoff = {2'000'000, 10 * 60 * 1'000'000};
  kind_.lease_us = 60 * 1'000'000;
  kind_.concurrency = 8;
}

}  // namespace tally::reactors
