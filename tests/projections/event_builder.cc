#include "tests/projections/event_builder.h"

namespace tally::testing {

namespace pb = payments::v1;

const ledger::RecordedEvent& PaymentEvents::Push(std::string type, std::string payload) {
  ledger::RecordedEvent event;
  event.partition = 0;
  event.position = next_position_++;
  event.stream_id = stream_id_;
  event.stream_version = static_cast<int64_t>(events_.size()) + 1;
  event.type = std::move(type);
  event.payload = std::move(payload);
  event.recorded_at_us = now_us_;
  events_.push_back(std::move(event));
  return events_.back();
}

const ledger::RecordedEvent& PaymentEvents::Event(const google::protobuf::Message& message) {
  return Push(message.GetDescriptor()->full_name(), message.SerializeAsString());
}

const ledger::RecordedEvent& PaymentEvents::Created(int64_t amount_minor, int64_t expires_in_s,
                                                    const std::string& tenant,
                                                    const std::string& bot) {
  pb::PaymentCreated created;
  created.set_tenant_id(tenant);
  created.set_bot_id(bot);
  created.set_customer_id("customer-1");
  created.set_product_id("product-1");
  created.mutable_amount()->set_amount_minor(amount_minor);
  created.mutable_amount()->set_currency("BRL");
  created.set_gateway(stream_id_.substr(8, stream_id_.find('-', 8) - 8));
  created.set_gateway_transaction_id(stream_id_.substr(stream_id_.find('-', 8) + 1));
  created.set_payment_id("pay-" + stream_id_);
  if (expires_in_s > 0) created.set_expires_at_s(now_us_ / 1000000 + expires_in_s);
  return Event(created);
}

const ledger::RecordedEvent& PaymentEvents::Webhook(const std::string& gateway,
                                                    pb::ObservedStatus status, int64_t amount_minor,
                                                    bool signed_body,
                                                    const std::string& gateway_word) {
  pb::GatewayWebhookReceived webhook;
  webhook.set_gateway(gateway);
  webhook.set_tenant_id("tenant-1");
  webhook.set_raw_body("{}");
  webhook.set_authenticity(signed_body ? pb::AUTHENTICITY_SIGNED : pb::AUTHENTICITY_UNVERIFIED);
  webhook.mutable_observation()->set_status(status);
  webhook.mutable_observation()->set_gateway_status(gateway_word);
  webhook.mutable_observation()->mutable_amount()->set_amount_minor(amount_minor);
  webhook.mutable_observation()->mutable_amount()->set_currency("BRL");
  return Event(webhook);
}

const ledger::RecordedEvent& PaymentEvents::Poll(const std::string& gateway,
                                                 pb::ObservedStatus status, int64_t amount_minor) {
  pb::GatewayStatusPolled poll;
  poll.set_gateway(gateway);
  poll.set_tenant_id("tenant-1");
  poll.set_http_status(200);
  poll.mutable_observation()->set_status(status);
  poll.mutable_observation()->mutable_amount()->set_amount_minor(amount_minor);
  poll.mutable_observation()->mutable_amount()->set_currency("BRL");
  return Event(poll);
}

}  // namespace tally::testing
