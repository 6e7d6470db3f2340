package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Environment variables read by ApplyEnv and, for EnvConfig, by the binary.
const (
	EnvConfig = "SWITCHBOARD_CONFIG" // path of the config file, like --config
	EnvHost   = "SWITCHBOARD_HOST"   // overrides host
	EnvPort   = "SWITCHBOARD_PORT"   // overrides port

	EnvRedisURL = "SWITCHBOARD_REDIS_URL" // overrides cluster.redis

	EnvAppStoreURL = "SWITCHBOARD_APP_STORE_URL" // overrides pusher.app_store.url

	EnvSendPath = "SWITCHBOARD_SEND_PATH" // overrides websocket.send_path
)

// ApplyEnv overrides keys from the environment, read through getenv
// (usually os.Getenv): EnvHost sets Host, EnvPort sets Port and EnvRedisURL
// sets Cluster.Redis, EnvAppStoreURL sets Pusher.AppStore.URL and
// EnvSendPath sets WebSocket.SendPath. An unset or empty variable changes nothing. A bad
// value changes nothing and is an *Error naming the variable; all of them
// are reported at once.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	var errs []*Error
	if h := getenv(EnvHost); h != "" {
		if msg := hostProblem(h); msg != "" {
			errs = append(errs, &Error{Key: EnvHost, Msg: msg})
		} else {
			c.Host = h
		}
	}
	if p := getenv(EnvPort); p != "" {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		switch {
		case err != nil:
			errs = append(errs, &Error{Key: EnvPort, Msg: fmt.Sprintf("%q is not a port number; use 1-65535", p)})
		case n < 1 || n > 65535:
			errs = append(errs, &Error{Key: EnvPort, Msg: fmt.Sprintf("%d is out of range 1-65535", n)})
		default:
			c.Port = n
		}
	}
	if u := getenv(EnvRedisURL); u != "" {
		if msg := redisURLProblem(u); msg != "" {
			errs = append(errs, &Error{Key: EnvRedisURL, Msg: msg})
		} else {
			c.Cluster.Redis = u
		}
	}
	if u := getenv(EnvAppStoreURL); u != "" {
		c.Pusher.AppStore.URL = u
	}
	if p := getenv(EnvSendPath); p != "" {
		if msg := sendPathProblem(p); msg != "" {
			errs = append(errs, &Error{Key: EnvSendPath, Msg: msg})
		} else {
			c.WebSocket.SendPath = p
		}
	}
	return joinErrors(errs, "")
}
