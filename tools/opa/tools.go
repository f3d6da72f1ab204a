//go:build tools

// Package tools pins the Open Policy Agent release that mcp-policy builds and
// tests with. `go build github.com/open-policy-agent/opa` inside this module
// resolves OPA through this go.mod, so the version comes from one place.
package tools

import _ "github.com/open-policy-agent/opa"
