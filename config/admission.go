package config

import (
	"path/filepath"
	"strings"

	"github.com/hjson/hjson-go/v4"
)

// Admission says whether the token broker admits WebSocket clients whose
// token is not registered (tokens.allow_unregistered_clients) and which
// rule decided it. The rules, first match wins:
//
//  1. the file sets tokens.allow_unregistered_clients or the legacy
//     AllowUnregisteredClients: that value;
//  2. the file is a legacy websockets.conf (so named, or using a key only
//     the legacy format has, such as Origin or RegisteredTokensUrl) and
//     lacks the key: closed, as the original broker read a missing line
//     ("comment this line if you don't want to allow connections for
//     clients without preregistered tokens");
//  3. a file in the current format without the key, or no file: open, the
//     zero-configuration default.
type Admission struct {
	// Open is the value of tokens.allow_unregistered_clients.
	Open bool
	// Rule is "file", "legacy-default" or "default", after the rules above.
	Rule string
	// Why explains Rule in a sentence, for the start-up log.
	Why string
}

// Admission rules.
const (
	AdmissionFile          = "file"
	AdmissionLegacyDefault = "legacy-default"
	AdmissionDefault       = "default"
)

// defaultAdmission is rule 3, which Default applies.
var defaultAdmission = Admission{
	Open: true,
	Rule: AdmissionDefault,
	Why:  "no file sets tokens.allow_unregistered_clients, so every token is admitted (the default)",
}

// Admission returns how tokens.allow_unregistered_clients was decided.
func (c *Config) Admission() Admission {
	if c.admission.Rule == "" { // a Config not made by Default or Parse
		return Admission{Open: c.Tokens.AllowUnregisteredClients, Rule: AdmissionFile, Why: "set by the program"}
	}
	return c.admission
}

// legacyFileName is the legacy broker's config file; a file of that name is
// read as a legacy file whatever keys it uses.
const legacyFileName = "websockets.conf"

// decideAdmission applies the rules of Admission to a decoded file.
// decoded is the value the file set, if it set one.
func decideAdmission(d *decoder, root *hjson.OrderedMap, name string, decoded bool) Admission {
	const key = "tokens.allow_unregistered_clients"
	if d.seen[key] && setsAdmission(root) {
		return Admission{Open: decoded, Rule: AdmissionFile, Why: displayKey(d.keys, key) + " is set in " + name}
	}
	if legacy, why := isLegacyFile(root, name); legacy {
		return Admission{
			Open: false,
			Rule: AdmissionLegacyDefault,
			// One short log line; the rule and its reason are in the docs it names.
			Why: name + " is legacy (" + why + "), without AllowUnregisteredClients: docs/token-broker.md#open-or-closed",
		}
	}
	return defaultAdmission
}

// setsAdmission reports whether the file gives allow_unregistered_clients
// (in either spelling) a value other than null, which keeps the default.
func setsAdmission(root *hjson.OrderedMap) bool {
	for _, k := range root.Keys {
		switch strings.ToLower(k) {
		case "allowunregisteredclients":
			return root.Map[k] != nil
		case "tokens":
			if m, ok := root.Map[k].(*hjson.OrderedMap); ok {
				if v, ok := m.Map["allow_unregistered_clients"]; ok && v != nil {
					return true
				}
			}
		}
	}
	return false
}

// isLegacyFile reports whether a file is in the legacy format, and why.
func isLegacyFile(root *hjson.OrderedMap, name string) (bool, string) {
	if filepath.Base(name) == legacyFileName {
		return true, "by its name"
	}
	legacy := (&Config{}).legacyKeys()
	for _, k := range root.Keys {
		if _, ok := legacy[strings.ToLower(k)]; ok {
			return true, "it uses the legacy key " + k
		}
	}
	return false, ""
}
