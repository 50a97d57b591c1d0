#include "app/pgbench_baseline.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <pqxx/pqxx>
#include <regex>
#include <sstream>

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

namespace {

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

}  // namespace

absl::StatusOr<PgbenchMixResult> RunPgbenchScripts(const std::string& url, const PgbenchRun& run,
                                                   const std::vector<PgbenchScript>& scripts) {
  const std::string pgbench =
      run.pgbench_path.empty() ? FindExecutable("pgbench", {"/usr/lib/postgresql/15/bin/pgbench"})
                               : run.pgbench_path;
  if (pgbench.empty()) return absl::NotFoundError("pgbench not found (use --pgbench-path)");
  if (scripts.empty()) return absl::InvalidArgumentError("no pgbench scripts");
  char dir_template[] = "/tmp/tally-pgbench-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    return absl::InternalError("cannot create a directory for pgbench's scripts and logs");
  }
  const std::filesystem::path dir(dir_template);
  std::vector<std::string> argv = {pgbench,
                                   "-n",
                                   "-c",
                                   std::to_string(run.clients),
                                   "-j",
                                   std::to_string(std::min(run.clients, 2)),
                                   "-T",
                                   std::to_string(std::max(1, run.seconds)),
                                   "-l",
                                   "--log-prefix",
                                   (dir / "log").string()};
  for (size_t i = 0; i < scripts.size(); ++i) {
    const std::filesystem::path file = dir / absl::StrCat(i, "-", scripts[i].name, ".sql");
    std::ofstream(file) << scripts[i].text;
    argv.insert(argv.end(), {"-f", absl::StrCat(file.string(), "@", scripts[i].weight)});
  }
  argv.push_back(url);
  std::cerr << "pgbench: " << run.clients << " clients for " << run.seconds << " s, "
            << scripts.size() << " scripts\n";
  auto result = RunProcess(argv);
  PgbenchMixResult parsed;
  std::vector<double> all;
  std::vector<std::vector<double>> per_script(scripts.size());
  if (result.ok() && result->exit_code == 0) {
    // Per-transaction log lines: client_id transaction_no time_us script_no epoch epoch_us.
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().filename().string().rfind("log.", 0) != 0) continue;
      std::ifstream log(entry.path());
      std::string line;
      while (std::getline(log, line)) {
        std::istringstream fields(line);
        int64_t client = 0, transaction = 0, script = 0;
        double micros = 0;
        if (!(fields >> client >> transaction >> micros >> script)) continue;
        all.push_back(micros / 1000);
        if (script >= 0 && script < static_cast<int64_t>(scripts.size())) {
          per_script[script].push_back(micros / 1000);
        }
      }
    }
  }
  std::filesystem::remove_all(dir);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    return absl::InternalError(absl::StrCat("pgbench failed: ", result->output));
  }
  std::smatch match;
  if (std::regex_search(result->output, match, std::regex(R"(\ntps = ([0-9.]+))"))) {
    parsed.tps = std::stod(match[1]);
  }
  if (std::regex_search(result->output, match, std::regex(R"(latency average = ([0-9.]+) ms)"))) {
    parsed.latency_ms = std::stod(match[1]);
  }
  if (parsed.tps <= 0) return absl::InternalError("could not read tps from pgbench's output");
  parsed.p50_ms = Percentile(all, 0.5);
  parsed.p99_ms = Percentile(all, 0.99);
  // With several scripts pgbench reports each: " - N transactions (x% of total, tps = T)".
  const std::regex per_script_line(
      R"( - ([0-9]+) transactions \([0-9.]+% of total, tps = ([0-9.]+)\))");
  auto it = std::sregex_iterator(result->output.begin(), result->output.end(), per_script_line);
  for (size_t i = 0; i < scripts.size(); ++i) {
    PgbenchScriptResult script;
    script.name = scripts[i].name;
    if (scripts.size() == 1) {
      script.tps = parsed.tps;
      script.transactions = static_cast<int64_t>(per_script[i].size());
    } else if (it != std::sregex_iterator()) {
      script.transactions = std::stoll((*it)[1]);
      script.tps = std::stod((*it)[2]);
      ++it;
    }
    script.p50_ms = Percentile(per_script[i], 0.5);
    script.p99_ms = Percentile(per_script[i], 0.99);
    parsed.scripts.push_back(std::move(script));
  }
  return parsed;
}

}  // namespace tally::app
