// tally projections status | rebuild | verify.

#include <iostream>

#include "absl/strings/str_format.h"
#include "app/commands.h"
#include "projections/catalog.h"
#include "projections/rebuild.h"

namespace tally::app {
namespace {

const projections::Projection* Find(
    const std::vector<std::unique_ptr<projections::Projection>>& all, const std::string& name) {
  for (const auto& p : all) {
    if (p->name() == name) return p.get();
  }
  return nullptr;
}

std::string Names(const std::vector<std::unique_ptr<projections::Projection>>& all) {
  std::string names;
  for (const auto& p : all) names += (names.empty() ? "" : ", ") + p->name();
  return names;
}

}  // namespace

int RunProjectionsStatus(const std::string& database_url) {
  auto all = projections::AllProjections();
  auto status = projections::ReadStatus(database_url, all);
  if (!status.ok()) return Fail(2, std::string(status.status().message()));
  for (const auto& p : *status) {
    std::cout << absl::StrFormat("%s v%d (binary v%d): %s\n", p.name, p.live_version,
                                 p.binary_version, p.state);
    for (const auto& part : p.partitions) {
      std::cout << absl::StrFormat(
          "  partition %d: checkpoint %d of %d, lag %d events, %.3f s%s\n", part.partition,
          part.checkpoint, part.head, part.head - part.checkpoint, part.lag_seconds,
          part.error.empty()
              ? ""
              : absl::StrFormat(", stopped at %d: %s", part.error_position, part.error));
    }
  }
  return 0;
}

int RunProjectionsRebuild(const std::string& database_url, const std::string& name, int version,
                          bool drop_old) {
  auto all = projections::AllProjections();
  const projections::Projection* projection = Find(all, name);
  if (projection == nullptr) {
    return Fail(2, "unknown projection \"" + name + "\" (known: " + Names(all) + ")");
  }
  projections::RebuildOptions options;
  options.database_url = database_url;
  options.version = version;
  options.drop_old = drop_old;
  options.progress = [](const projections::RebuildProgress& p) {
    const double rate = p.seconds > 0 ? p.events_done / p.seconds : 0;
    const double eta =
        rate > 0 && p.events_total > p.events_done ? (p.events_total - p.events_done) / rate : 0;
    std::cerr << absl::StrFormat("%s: %d/%d events, %.0f events/s, ETA %.1f s\n", p.phase,
                                 p.events_done, p.events_total, rate, eta);
  };
  auto report = projections::RebuildProjection(*projection, options);
  if (!report.ok()) return Fail(2, std::string(report.status().message()));
  std::cout << absl::StrFormat(
      "rebuilt %s into proj_*%s: %d events in bulk (read+fold %.2f s, copy %.2f s), %d caught "
      "up, swapped in %.2f s total%s\n",
      name, report->suffix, report->events, report->read_fold_seconds, report->copy_seconds,
      report->catch_up_events, report->total_seconds,
      report->dropped.empty() ? "" : "; dropped proj_*" + report->dropped);
  return 0;
}

int RunProjectionsVerify(const std::string& database_url, const std::string& name) {
  auto all = projections::AllProjections();
  const projections::Projection* projection = Find(all, name);
  if (projection == nullptr) {
    return Fail(2, "unknown projection \"" + name + "\" (known: " + Names(all) + ")");
  }
  auto report = projections::VerifyProjection(*projection, database_url);
  if (!report.ok()) return Fail(2, std::string(report.status().message()));
  for (const auto& table : report->tables) {
    std::cout << absl::StrFormat("%s: %s (live %d rows, rebuilt %d rows)\n", table.table,
                                 table.equal ? "equal" : "DIFFERENT", table.live_rows,
                                 table.rebuilt_rows);
    for (const auto& key : table.differing_keys) std::cout << "  differs: " << key << "\n";
  }
  return report->equal ? 0 : 1;
}

}  // namespace tally::app
