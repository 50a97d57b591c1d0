#pragma once
// `tally jobs list|show|pause|resume|trigger` (through a running `tally serve`'s admin API,
// with an admin key) and `tally admin keys create` (straight to the database). Kept apart from
// main.cc: AddJobCommands registers the subcommands and returns what runs the chosen one.

#include <functional>
#include <optional>

#include <CLI/CLI.hpp>

namespace tally::app {

// After `app` parsed the command line: the exit code of the job or admin command chosen, or
// nullopt when another command was chosen.
using ChosenCommand = std::function<std::optional<int>()>;

ChosenCommand AddJobCommands(CLI::App& app);

}  // namespace tally::app
