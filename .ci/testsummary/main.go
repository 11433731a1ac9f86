// Command testsummary reads `go test -json` on standard input, prints the
// usual package result lines and the full output of every failed test, lists
// skipped tests with their reason, and ends with one line
// "tests: N passed, N failed, N skipped". It exits 1 when any test or
// package failed, so CI can rely on its status as well as on go test's.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func main() {
	var passed, failed, skipped int
	outputs := map[string][]string{} // package/test -> output lines
	var skips []string
	pkgFailed := false
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			// Build errors and other non-JSON lines go straight through.
			fmt.Println(string(line))
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			if e.Test == "" {
				if strings.HasPrefix(e.Output, "ok ") || strings.HasPrefix(e.Output, "FAIL") || strings.HasPrefix(e.Output, "---") || strings.HasPrefix(e.Output, "panic") {
					fmt.Print(e.Output)
				}
				if strings.HasPrefix(e.Output, "FAIL") {
					pkgFailed = true
				}
				continue
			}
			outputs[key] = append(outputs[key], e.Output)
		case "pass":
			if e.Test != "" {
				passed++
				delete(outputs, key)
			}
		case "skip":
			if e.Test != "" {
				skipped++
				reason := ""
				for _, o := range outputs[key] {
					if t := strings.TrimSpace(o); t != "" && !strings.HasPrefix(t, "=== ") && !strings.HasPrefix(t, "--- SKIP") {
						reason = t
					}
				}
				skips = append(skips, fmt.Sprintf("%s %s: %s", e.Package, e.Test, reason))
				delete(outputs, key)
			}
		case "fail":
			if e.Test != "" {
				failed++
				fmt.Printf("--- FAIL: %s %s\n%s", e.Package, e.Test, strings.Join(outputs[key], ""))
				delete(outputs, key)
			} else {
				pkgFailed = true
			}
		}
	}
	if len(skips) > 0 {
		sort.Strings(skips)
		fmt.Println("skipped tests:")
		for _, s := range skips {
			fmt.Println("  " + s)
		}
	}
	fmt.Printf("tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 || pkgFailed {
		os.Exit(1)
	}
}
