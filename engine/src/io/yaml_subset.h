// A small, strict reader for the part of YAML that model configuration files use (the VideoCrafter and
// DynamiCrafter configs/*.yaml that OmegaConf loads), producing nlohmann::json. No library: the GPU
// machines have none, and these files need little.
//
//     auto j = io::read_yaml_file("configs/inference_t2v_512_v2.0.yaml");
//     if (!j) return Unexpected{j.error()};          // "...yaml:12:5: tabs are not allowed in indentation"
//     double s = (*j)["model"]["params"]["scale_factor"].get<double>();
//
// The subset:
//   - block mappings (`key: value`, `key:` + an indented block), block sequences (`- item`, also at the
//     indentation of their key, `- key: value` starting a mapping), nested to any depth;
//   - flow sequences and mappings on one line (`[1, 2, 'a']`, `{a: 1}`, `[]`, `{}`);
//   - scalars resolved as OmegaConf's loader (PyYAML's YAML 1.1 resolver + OmegaConf's float rule) does:
//       null: `~`, `null`/`Null`/`NULL`, nothing; booleans: true/false, yes/no, on/off (lower, Title, UPPER);
//       integers: decimal (`_` separators allowed); floats: `0.5`, `1.`, `1.0e-05`, `1e-4`, `.5`, `.inf`,
//       `-.inf`, `.nan`; everything else is a string; 'single' ('' escapes a quote) and "double" quoted
//       strings (escapes \\ \" \/ \b \f \n \r \t \0 \xXX \uXXXX \UXXXXXXXX);
//   - `#` comments (at line start or after a space), one optional `---` first line, one optional `...` end.
// Everything else is an error naming line and column: tabs in indentation, anchors/aliases (`&`, `*`),
// tags (`!`), block scalars (`|`, `>`), complex keys (`?`), directives (`%`), several documents, flow
// collections spanning lines, multi-line plain scalars, duplicate keys, hexadecimal/octal/sexagesimal
// integers (PyYAML reads `010` as 8: rejected rather than guessed), integers beyond 64 bits.
//
// Errors: ModelLoadFailed for malformed text, UnsupportedModel for valid YAML outside the subset (the
// message says which construct; rewrite it plainly). Thread-safe: pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "engine/error.h"

namespace engine::io {

/// Parses YAML text of the subset above; `what` names the source (a path) in error messages, which
/// read "<what>:<line>:<column>: <problem>" (1-based). An empty document is null.
Expected<nlohmann::json> parse_yaml_subset(const std::string& text, const std::string& what);

/// Reads and parses a file. ModelNotFound when it cannot be opened.
Expected<nlohmann::json> read_yaml_file(const std::string& path);

}  // namespace engine::io
