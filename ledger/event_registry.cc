#include "ledger/event_registry.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "tally/bots/v1/bot_events.pb.h"
#include "tally/jobs/v1/job_events.pb.h"
#include "tally/leads/v1/lead_events.pb.h"
#include "tally/ledger/v1/metadata.pb.h"
#include "tally/payments/v1/payment_events.pb.h"
#include "tally/subscriptions/v1/subscription_events.pb.h"
#include "tally/tenants/v1/tenant_events.pb.h"

namespace tally::ledger {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::Message;
using google::protobuf::MessageFactory;

const Descriptor* FindType(absl::string_view type) {
  return DescriptorPool::generated_pool()->FindMessageTypeByName(std::string(type));
}

std::unique_ptr<Message> NewMessage(const Descriptor* descriptor) {
  const Message* prototype = MessageFactory::generated_factory()->GetPrototype(descriptor);
  return std::unique_ptr<Message>(prototype->New());
}

absl::StatusOr<std::string> ToJson(const Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) return absl::InternalError(std::string(status.message()));
  return json;
}

}  // namespace

EventRegistry EventRegistry::Default() {
  EventRegistry registry;
  for (const Descriptor* d : {
           payments::v1::PaymentCreated::descriptor(),
           payments::v1::ChargeRequested::descriptor(),
           payments::v1::ChargeUnresolved::descriptor(),
           payments::v1::GatewayWebhookReceived::descriptor(),
           payments::v1::GatewayStatusPolled::descriptor(),
           payments::v1::PaymentAbandoned::descriptor(),
           payments::v1::DeliveryIssued::descriptor(),
           payments::v1::DeliveryAttempted::descriptor(),
           payments::v1::DeliveryMessageSent::descriptor(),
           payments::v1::DeliveryFailed::descriptor(),
           payments::v1::DeliveryAccessed::descriptor(),
           payments::v1::MetaPurchaseRequested::descriptor(),
           payments::v1::MetaPurchaseAttempted::descriptor(),
           payments::v1::MetaPurchaseSucceeded::descriptor(),
           payments::v1::MetaPurchaseFailed::descriptor(),
           payments::v1::OutboxRetryRequested::descriptor(),
           payments::v1::UpsellScheduled::descriptor(),
           payments::v1::UpsellSent::descriptor(),
           payments::v1::UpsellCancelled::descriptor(),
           payments::v1::UpsellMessageAttempted::descriptor(),
           payments::v1::UpsellMessageSent::descriptor(),
           payments::v1::UpsellMessageFailed::descriptor(),
           tenants::v1::TenantCreated::descriptor(),
           tenants::v1::TenantTimeZoneSet::descriptor(),
           tenants::v1::GatewayConfigured::descriptor(),
           tenants::v1::ApiKeyIssued::descriptor(),
           bots::v1::BotRegistered::descriptor(),
           bots::v1::WelcomeConfigured::descriptor(),
           bots::v1::OfferConfigured::descriptor(),
           bots::v1::ProductConfigured::descriptor(),
           bots::v1::MetaConfigured::descriptor(),
           bots::v1::PlanConfigured::descriptor(),
           leads::v1::LeadStarted::descriptor(),
           leads::v1::WelcomeIssued::descriptor(),
           leads::v1::WelcomeAttempted::descriptor(),
           leads::v1::WelcomeSent::descriptor(),
           leads::v1::WelcomeFailed::descriptor(),
           jobs::v1::JobPaused::descriptor(),
           jobs::v1::JobResumed::descriptor(),
           jobs::v1::JobTriggered::descriptor(),
       }) {
    registry.types_.insert(d->full_name());
  }
  // Every message of the subscriptions package is an event of it.
  const google::protobuf::FileDescriptor* subscriptions =
      subscriptions::v1::SubscriptionStarted::descriptor()->file();
  for (int i = 0; i < subscriptions->message_type_count(); ++i) {
    registry.types_.insert(subscriptions->message_type(i)->full_name());
  }
  return registry;
}

absl::StatusOr<EventRegistry> EventRegistry::FromTypes(const std::vector<std::string>& types) {
  EventRegistry registry;
  for (const auto& type : types) {
    if (FindType(type) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("no protobuf message named ", type));
    }
    registry.types_.insert(type);
  }
  return registry;
}

absl::Status EventRegistry::Validate(absl::string_view type, absl::string_view payload) const {
  if (!Contains(type)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown event type \"", type, "\""));
  }
  auto message = NewMessage(FindType(type));
  if (!message->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::InvalidArgumentError(absl::StrCat("payload does not parse as ", type));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> EventRegistry::RenderJson(absl::string_view type,
                                                      absl::string_view payload) const {
  const Descriptor* descriptor = Contains(type) ? FindType(type) : nullptr;
  if (descriptor == nullptr) {
    return absl::NotFoundError(absl::StrCat("unknown event type \"", type, "\""));
  }
  auto message = NewMessage(descriptor);
  if (!message->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError(absl::StrCat("payload does not parse as ", type));
  }
  return ToJson(*message);
}

absl::StatusOr<std::string> EventRegistry::RenderMetadataJson(absl::string_view metadata) {
  ledger::v1::Metadata message;
  if (!message.ParseFromArray(metadata.data(), static_cast<int>(metadata.size()))) {
    return absl::DataLossError("metadata does not parse as tally.ledger.v1.Metadata");
  }
  return ToJson(message);
}

}  // namespace tally::ledger
