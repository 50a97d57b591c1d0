#include "app/pgbench_baseline.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <pqxx/pqxx>
#include <regex>

#include "absl/strings/str_cat.h"
#include "app/process.h"
#include "ledger/database.h"

namespace tally::app {

absl::StatusOr<PgbenchResult> RunPgbenchInsert(const std::string& url, const PgbenchRun& run) {
  const std::string pgbench =
      run.pgbench_path.empty() ? FindExecutable("pgbench", {"/usr/lib/postgresql/15/bin/pgbench"})
                               : run.pgbench_path;
  if (pgbench.empty()) return absl::NotFoundError("pgbench not found (use --pgbench-path)");
  try {
    pqxx::connection conn(url);
    pqxx::nontransaction txn(conn);
    txn.exec(
        "CREATE TABLE IF NOT EXISTS bench_single_row_insert (id bigserial PRIMARY KEY, "
        "stream_id text NOT NULL, stream_version bigint NOT NULL, idempotency_key text NOT NULL,"
        " payload bytea NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(), "
        "UNIQUE (stream_id, stream_version), UNIQUE (idempotency_key))");
  } catch (const std::exception& e) {
    return ledger::StatusFromException(e, "creating the pgbench table");
  }
  char script_path[] = "/tmp/tally-pgbench-XXXXXX";
  const int fd = mkstemp(script_path);
  if (fd < 0) return absl::InternalError("cannot create the pgbench script file");
  close(fd);
  std::ofstream(script_path)
      << "\\set v random(1, 9000000000000000000)\n"
         "INSERT INTO bench_single_row_insert (stream_id, stream_version, idempotency_key, "
         "payload) VALUES ('bench-' || :client_id, :v, 'k-' || :client_id || '-' || :v, "
         "convert_to(repeat('x', 600), 'UTF8'));\n";
  std::vector<std::string> argv = {pgbench, "-n",
                                   "-c",    std::to_string(run.clients),
                                   "-j",    std::to_string(std::min(run.clients, 2))};
  if (run.transactions_per_client > 0) {
    argv.insert(argv.end(), {"-t", std::to_string(run.transactions_per_client)});
    std::cerr << "pgbench: " << run.clients << " clients x " << run.transactions_per_client
              << " single-row INSERT transactions\n";
  } else {
    argv.insert(argv.end(), {"-T", std::to_string(std::max(1, run.seconds))});
    std::cerr << "pgbench: " << run.clients << " clients for " << run.seconds << " s\n";
  }
  argv.insert(argv.end(), {"-f", script_path, url});
  auto result = RunProcess(argv);
  std::remove(script_path);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    return absl::InternalError(absl::StrCat("pgbench failed: ", result->output));
  }
  PgbenchResult parsed;
  std::smatch match;
  if (std::regex_search(result->output, match, std::regex(R"(tps = ([0-9.]+))"))) {
    parsed.tps = std::stod(match[1]);
  }
  if (std::regex_search(result->output, match, std::regex(R"(latency average = ([0-9.]+) ms)"))) {
    parsed.latency_ms = std::stod(match[1]);
  }
  if (parsed.tps <= 0) return absl::InternalError("could not read tps from pgbench's output");
  return parsed;
}

}  // namespace tally::app
