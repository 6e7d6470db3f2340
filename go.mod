module github.com/switchboard-rt/switchboard

go 1.26.8

require (
	github.com/coder/websocket v1.8.15
	github.com/gobwas/ws v1.5.0
	github.com/hjson/hjson-go/v4 v4.6.0
	go.uber.org/goleak v1.3.0
	golang.org/x/sys v0.49.0
)

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/stretchr/testify v1.8.4 // indirect
)
