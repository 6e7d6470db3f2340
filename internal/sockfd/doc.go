// Package sockfd takes TCP sockets out of the Go runtime, for code that
// watches them with its own epoll instance: the ws package's pollers and
// the load generator's receivers. It exists on Linux only.
package sockfd
