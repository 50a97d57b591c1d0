#pragma once
// The metadata of an event appended because of one HTTP request: the request id (also the
// correlation id, and the one in the request's log lines), where it came from, who sent it,
// when it arrived.

#include <cstdint>
#include <string>

#include "http/message.h"
#include "tally/ledger/v1/metadata.pb.h"

namespace tally::http {

ledger::v1::Metadata RequestMetadata(const HttpRequest& request, const std::string& request_id,
                                     ledger::v1::Source source, const std::string& actor,
                                     int64_t received_at_us);

}  // namespace tally::http
