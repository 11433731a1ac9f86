package interop

import (
	"fmt"
	"os"
	"testing"

	"github.com/nqrust/identity/examples/interop/interoptest"
)

// mcpserverBin is the examples/mcpserver binary, built by TestMain.
var mcpserverBin string

func TestMain(m *testing.M) {
	var err error
	mcpserverBin, err = interoptest.Build("./examples/mcpserver")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
