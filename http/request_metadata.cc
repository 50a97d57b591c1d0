#include "http/request_metadata.h"

namespace tally::http {

ledger::v1::Metadata RequestMetadata(const HttpRequest& request, const std::string& request_id,
                                     ledger::v1::Source source, const std::string& actor,
                                     int64_t received_at_us) {
  ledger::v1::Metadata metadata;
  metadata.set_correlation_id(request_id);
  metadata.set_source(source);
  metadata.set_actor(actor);
  metadata.set_request_id(request_id);
  metadata.set_received_at_us(received_at_us);
  metadata.set_remote_address(request.remote_address);
  return metadata;
}

}  // namespace tally::http
