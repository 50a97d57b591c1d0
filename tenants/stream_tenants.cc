#include "tenants/stream_tenants.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <memory>

#include "absl/strings/match.h"

namespace tally::tenants {

std::string PayloadTenantId(const ledger::RecordedEvent& event) {
  namespace pb = google::protobuf;
  const pb::Descriptor* descriptor =
      pb::DescriptorPool::generated_pool()->FindMessageTypeByName(event.type);
  if (descriptor == nullptr) return "";
  const pb::FieldDescriptor* field = descriptor->FindFieldByName("tenant_id");
  if (field == nullptr || field->type() != pb::FieldDescriptor::TYPE_STRING ||
      field->is_repeated()) {
    return "";
  }
  const pb::Message* prototype = pb::MessageFactory::generated_factory()->GetPrototype(descriptor);
  if (prototype == nullptr) return "";
  std::unique_ptr<pb::Message> message(prototype->New());
  if (!message->ParseFromString(event.payload)) return "";
  return message->GetReflection()->GetString(*message, field);
}

absl::StatusOr<std::string> StreamTenants::Of(const ledger::RecordedEvent& event) {
  if (absl::StartsWith(event.stream_id, "tenant-")) return event.stream_id.substr(7);
  std::pair<int, std::string> key{event.partition, event.stream_id};
  if (auto it = known_.find(key); it != known_.end()) return it->second;
  std::string tenant;
  if (event.stream_version == 1) tenant = PayloadTenantId(event);
  if (tenant.empty()) {
    // First seen mid-stream, or its first event names no tenant: the first that does decides.
    auto events = read_stream_(event.partition, event.stream_id);
    if (!events.ok()) return events.status();
    for (const ledger::RecordedEvent& e : *events) {
      tenant = PayloadTenantId(e);
      if (!tenant.empty()) break;
    }
  }
  known_.emplace(std::move(key), tenant);
  return tenant;
}

}  // namespace tally::tenants
