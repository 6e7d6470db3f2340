// Package config reads Switchboard's one configuration file: HJSON (JSON
// with comments, unquoted keys and strings, and trailing commas), where every
// key has a default that works, so no file is needed at all.
//
// The legacy token-broker file websockets.conf loads unchanged: its keys
// (Host, Port, Origin, AllowUnregisteredClients, ...) are read at the top
// level, case-insensitively, and mapped onto the modern keys.
//
// The usual sequence in the binary is
//
//	cfg, err := config.Load(path)      // or config.Default() when there is no file
//	err = cfg.ApplyEnv(os.Getenv)      // SWITCHBOARD_HOST, SWITCHBOARD_PORT
//	// ... apply command-line flags ...
//	err = cfg.Validate()               // every problem at once
//	for _, w := range cfg.Warnings() { logger.Warn("config", "key", w.Key, "problem", w.Msg) }
//
// Errors come one per problem, joined with errors.Join; each is an *Error
// naming the file and either the line and column (syntax) or the key
// ("websocket.max_payload") and the fix. The package does no logging and keeps
// no global state.
//
// This package knows each dialect only through its config section (the keys,
// their defaults and their validity); it must not know how a dialect works
// inside, and dialects must not read files or the environment themselves.
//
// # Adding a section
//
// A section such as "apps" or "cluster" lives in its own file: a struct whose
// fields carry `json:"key"` tags, a default in Default, a field in Config
// tagged with the section name, and a method
//
//	func (s *Section) validate(ck *checker, path string)
//
// Decoding is driven by the tags (strings, bools, integers, Duration, slices,
// maps and nested structs are handled; unknown keys are errors with a
// suggestion); a type that needs a special form implements setHJSON.
// Validation finds the method by itself.
package config
