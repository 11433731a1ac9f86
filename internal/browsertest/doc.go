// Package browsertest drives a headless Chromium from Go tests through
// github.com/chromedp/chromedp: it finds the browser, starts it with a fresh
// profile and the flags that keep it quiet and offline, records what the
// page writes to the console (console API calls, uncaught exceptions and
// browser log entries such as CSP violations), dismisses and records
// JavaScript dialogs, and saves screenshots as test artifacts.
//
// When no Chromium is installed, [New] skips the test with a loud message,
// except when the environment variable CI is "true": there a missing
// browser fails the test, so that a CI run never counts a skipped browser
// test as passing. .ci/run installs Debian's chromium package.
package browsertest
