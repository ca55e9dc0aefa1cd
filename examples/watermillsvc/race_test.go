//go:build race

package watermillsvc_test

// raceDetector: the test binary runs with the race detector.
const raceDetector = true
