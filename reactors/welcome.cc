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
constexpr char kAttempted[] = "tally.leads.v1.WelcomeAttempted";
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

WelcomeKind::WelcomeKind(TelegramBots& telegram) : telegram_(telegram) {
  kind_.reactor = "welcome";
  kind_.requested_type = kIssued;
  kind_.attempted_type = kAttempted;
  kind_.succeeded_type = kSent;
  kind_.failed_type = kFailed;
  kind_.read = [](const ledger::RecordedEvent& e) -> absl::StatusOr<OutboxEvent> {
    OutboxEvent out;
    if (e.type == kIssued) {
      lb::WelcomeIssued m;
      if (!m.ParseFromString(e.payload)) return absl::DataLossError("WelcomeIssued");
      out.type = OutboxEvent::Type::kRequested;
      out.tenant_id = m.tenant_id();
    } else if (e.type == kAttempted) {
      lb::WelcomeAttempted m;
      if (!m.ParseFromString(e.payload)) return absl::DataLossError("WelcomeAttempted");
      out.type = OutboxEvent::Type::kAttempted;
      out.attempt = m.attempt();
    } else if (e.type == kSent) {
      out.type = OutboxEvent::Type::kSucceeded;
    } else {
      lb::WelcomeFailed m;
      if (!m.ParseFromString(e.payload)) return absl::DataLossError("WelcomeFailed");
      out.type = OutboxEvent::Type::kFailed;
      out.attempt = m.attempt();
      out.retry_at_us = m.retry_at_us();
      out.terminal = m.terminal();
      out.error = m.error();
    }
    return out;
  };
  kind_.attempted_payload = [](int attempt) {
    lb::WelcomeAttempted m;
    m.set_attempt(attempt);
    return m.SerializeAsString();
  };
  kind_.failed_payload = [](int attempt, const SendResult& r, int64_t retry_at_us) {
    lb::WelcomeFailed m;
    m.set_attempt(attempt);
    m.set_error(r.error);
    m.set_retry_at_us(retry_at_us);
    m.set_terminal(r.outcome == SendResult::Outcome::kTerminal);
    m.set_http_status(r.http_status);
    m.set_error_code(r.error_code);
    return m.SerializeAsString();
  };
  kind_.pace = [this](const OutboxItem& item) {
    lb::WelcomeIssued issued;
    if (issued.ParseFromString(item.request)) telegram_.Pace(issued.bot_id(), issued.chat_id());
  };
  kind_.send = [this](const OutboxItem& item) {
    lb::WelcomeIssued issued;
    if (!issued.ParseFromString(item.request)) {
      return SendResult{SendResult::Outcome::kTerminal, "", "WelcomeIssued does not parse"};
    }
    TelegramBots::Sent sent =
        telegram_.SendMessage(issued.bot_id(), issued.chat_id(), issued.text());
    if (sent.result.outcome == SendResult::Outcome::kSucceeded) {
      lb::WelcomeSent message;
      message.set_telegram_message_id(sent.message_id);
      sent.result.success_payload = message.SerializeAsString();
    }
    return sent.result;
  };
  kind_.backoff = {2'000'000, 10 * 60 * 1'000'000};
  kind_.lease_us = 60 * 1'000'000;
  kind_.concurrency = 8;
}

}  // namespace tally::reactors
