package main

import (
	"context"
	"log/slog"

	"github.com/switchboard-rt/switchboard/config"
)

// logAdmission says at start whether the token broker admits unregistered
// tokens and which rule decided it (config.Admission). A legacy file read
// as closed is a warning: older versions read it as open.
func logAdmission(logger *slog.Logger, cfg *config.Config) {
	if !cfg.Tokens.Enabled {
		return
	}
	a := cfg.Admission()
	level := slog.LevelInfo
	if a.Rule == config.AdmissionLegacyDefault {
		level = slog.LevelWarn
	}
	logger.Log(context.Background(), level, "tokens admission", "allow_unregistered_clients", a.Open, "rule", a.Rule, "why", a.Why)
}
