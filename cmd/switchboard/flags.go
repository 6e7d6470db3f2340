package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/switchboard-rt/switchboard/config"
)

// portValue is a flag.Value holding a TCP port. Its error says what a port
// is, as the SWITCHBOARD_PORT check does, where flag's own integer parsing
// says only "parse error".
type portValue struct{ port *int }

func (p portValue) String() string {
	if p.port == nil || *p.port == 0 {
		return ""
	}
	return strconv.Itoa(*p.port)
}

func (p portValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	switch {
	case err != nil:
		return fmt.Errorf("not a port number; give one from 1 to 65535 (or set $%s)", config.EnvPort)
	case n < 1 || n > 65535:
		return fmt.Errorf("%d is out of range; give a port from 1 to 65535", n)
	}
	*p.port = n
	return nil
}
