package httpapi

import (
	_ "embed"
	"net/http"
)

// openAPI describes the API (OpenAPI 3.1), immutable; a test keeps its request
// schemas in step with the Go types.
//
//go:embed openapi.json
var openAPI string

// getOpenAPI is GET /v1/openapi.json. The document is public: it holds no
// secret and describes what any client may send.
func (s *Server) getOpenAPI(w http.ResponseWriter, _ *http.Request) {
	writeRaw(w, http.StatusOK, []byte(openAPI))
}
